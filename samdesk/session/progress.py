"""How far the annotation is: images done out of all, for the project and for each folder.

An image or video counts as done when its status is done (Image ▸ Mark done, Ctrl+D). The
media list shows the project's count above the list and each folder's in a header row when the
media come from more than one folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from samdesk.document.model import MediaItem, MediaStatus


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def text(self) -> str:
        """``"12 / 40 done (30%)"``."""
        return f"{self.done} / {self.total} done ({round(100 * self.fraction)}%)"


def progress(items: Iterable[MediaItem]) -> Progress:
    items = list(items)
    return Progress(sum(1 for m in items if m.status == MediaStatus.DONE), len(items))


def folder_of(item: MediaItem) -> str:
    """The folder a medium is listed under (a frame-folder video: the folder holding it)."""
    return str(Path(item.path).parent)


def by_folder(items: Iterable[MediaItem]) -> dict[str, Progress]:
    """Each folder's progress, folders in the order their first medium comes."""
    groups: dict[str, list[MediaItem]] = {}
    for item in items:
        groups.setdefault(folder_of(item), []).append(item)
    return {folder: progress(members) for folder, members in groups.items()}


def folder_names(folders: Iterable[str]) -> dict[str, str]:
    """Short names for folder headers: each folder relative to the folder above them all
    (``"."`` for that folder itself), with ``/``."""
    folders = list(folders)
    if not folders:
        return {}
    root = os.path.commonpath(folders) if len(folders) > 1 else str(Path(folders[0]).parent)
    return {f: Path(os.path.relpath(f, root)).as_posix() for f in folders}


class ProgressTally:
    """The counts kept up to date one medium at a time (a folder of thousands of images opens
    one medium per change: recounting them all each time would cost O(N²))."""

    def __init__(self, items: Iterable[MediaItem] = ()) -> None:
        self.reset(items)

    def reset(self, items: Iterable[MediaItem]) -> None:
        self._media: dict[int, tuple[str, bool]] = {}  # id -> (folder, done)
        self._folders: dict[str, list[int]] = {}  # folder -> [done, total], in order of first medium
        self._done = 0
        for item in items:
            self.update(item)

    def update(self, item: MediaItem) -> str:
        """Count ``item`` (new, or its status changed); returns its folder."""
        folder, done = self._media.get(item.id) or (folder_of(item), False)
        counts = self._folders.setdefault(folder, [0, 0])
        if item.id not in self._media:
            counts[1] += 1
        now = item.status == MediaStatus.DONE
        counts[0] += int(now) - int(done)
        self._done += int(now) - int(done)
        self._media[item.id] = (folder, now)
        return folder

    def remove(self, media_id: int) -> None:
        folder, done = self._media.pop(media_id)
        counts = self._folders[folder]
        counts[0] -= int(done)
        counts[1] -= 1
        self._done -= int(done)
        if counts[1] == 0:
            del self._folders[folder]

    def folder_of(self, media_id: int) -> str:
        """The folder a counted medium is listed under."""
        return self._media[media_id][0]

    @property
    def total(self) -> Progress:
        return Progress(self._done, len(self._media))

    @property
    def folders(self) -> list[str]:
        return list(self._folders)

    def folder(self, folder: str) -> Progress:
        done, total = self._folders.get(folder, (0, 0))
        return Progress(done, total)
