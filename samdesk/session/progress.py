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
