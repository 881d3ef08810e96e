"""A folder of image files as a video: one frame per file, in frame-number order.

DAVIS, YouTube-VOS, YouTube-VIS and SAM 2's own video loader all ship videos as folders of JPEG
frames (``00000.jpg``, ``00005.jpg``, ...). Such a folder is a video here, read like a video file:

* :func:`sequence_files` -> the frame files in order: stems that are numbers sort by their value
  (``2.jpg`` before ``10.jpg``, as SAM 2's loader sorts them), the other names after them by name.
  Hidden files (``.DS_Store``, macOS ``._00000.jpg``) are not frames. Symlinked files and folders
  are followed.
* :func:`probe_sequence` -> :class:`~model_runtime.media.MediaInfo` of kind ``"video"``, sized by
  its first frame's header (nothing is decoded), ``fps`` None (a folder has no frame rate).
* :class:`ImageSequenceReader` -> frames by index as RGB uint8 (H, W, 3), the interface of
  :class:`~model_runtime.media.VideoReader`; a frame of another size than the first is a
  :class:`~model_runtime.media.MediaError` naming that file.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from model_runtime import media

# Most frames a folder may hold: the document's limit for videos (samdesk/document/media_files.py).
MAX_SEQUENCE_FRAMES = 10_000_000


def _sort_key(name: str) -> tuple[int, int, str]:
    stem = name.rsplit(".", 1)[0]
    if re.fullmatch(r"[0-9]{1,30}", stem):
        return (0, int(stem), name)
    return (1, 0, name)


def sequence_files(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` (not of its subfolders) in frame order; may be empty.

    Raises :class:`~model_runtime.media.MediaError` when the folder cannot be listed.
    """
    folder = Path(folder)
    names = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or Path(entry.name).suffix.lower() not in media.IMAGE_SUFFIXES:
                    continue
                if entry.is_file():  # follows symlinks
                    names.append(entry.name)
                    if len(names) > MAX_SEQUENCE_FRAMES:
                        raise media.MediaError(folder, f"more than {MAX_SEQUENCE_FRAMES} image files")
    except FileNotFoundError as exc:
        raise media.MediaError(folder, "no such folder") from exc
    except NotADirectoryError as exc:
        raise media.MediaError(folder, "is a file, not a folder of frames") from exc
    except PermissionError as exc:
        raise media.MediaError(folder, "permission denied") from exc
    except OSError as exc:
        raise media.MediaError(folder, f"cannot list the folder ({exc.strerror or exc})") from exc
    return [folder / name for name in sorted(names, key=_sort_key)]


def is_sequence(path: str | Path) -> bool:
    """True when ``path`` is a folder holding at least one image file (a video of frames)."""
    try:
        return Path(path).is_dir() and bool(sequence_files(path))
    except (media.MediaError, OSError, ValueError):
        return False


def probe_sequence(folder: str | Path, *, max_pixels: int = media.DEFAULT_MAX_PIXELS) -> media.MediaInfo:
    """Kind ``"video"``, the first frame's size (EXIF orientation applied) and the frame count."""
    folder = Path(folder)
    files = sequence_files(folder)
    if not files:
        suffixes = ", ".join(sorted(media.IMAGE_SUFFIXES))
        raise media.MediaError(folder, f"folder holds no image files ({suffixes}), so it is not a video")
    first = media.probe_media(files[0], max_pixels=max_pixels)
    return media.MediaInfo(
        path=folder, kind="video", width=first.width, height=first.height, frame_count=len(files)
    )


class ImageSequenceReader:
    """Frames of a folder of images by index, as RGB uint8 (H, W, 3); the last ``cache_size``
    frames read are kept (fewer if they would exceed ``cache_bytes``). Each read decodes one
    file, so access is random at no extra cost.

    Not thread-safe (like :class:`~model_runtime.media.VideoReader`); close it or use ``with``.
    """

    def __init__(self, folder: str | Path, *, cache_size: int = 16, cache_bytes: int | None = None) -> None:
        self.path = Path(folder)
        self._info = probe_sequence(self.path)
        self._files = sequence_files(self.path)
        if len(self._files) != self._info.frame_count:  # the folder changed between two listings
            raise media.MediaError(self.path, "the folder's frames changed while it was opened")
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = media.cache_capacity(self._info, cache_size, cache_bytes)
        self.decoded_frames = 0
        self.closed = False

    @property
    def info(self) -> media.MediaInfo:
        return self._info

    @property
    def frame_count(self) -> int:
        return self._info.frame_count

    def is_cached(self, frame_index: int) -> bool:
        return frame_index in self._cache

    @property
    def files(self) -> list[Path]:
        """The frame files, frame ``i`` at index ``i``."""
        return list(self._files)

    def read(self, frame_index: int) -> np.ndarray:
        """RGB uint8 (H, W, 3) of frame ``frame_index`` (read-only: shared with the cache).

        Raises IndexError out of range, :class:`~model_runtime.media.MediaError` for an
        unreadable frame file or one whose size differs from the first frame's.
        """
        if not 0 <= frame_index < self.frame_count:
            raise IndexError(f"{self.path}: frame {frame_index} out of range 0-{self.frame_count - 1}")
        if self.closed:
            raise media.MediaError(self.path, "the video reader was closed")
        cached = self._cache.get(frame_index)
        if cached is not None:
            self._cache.move_to_end(frame_index)
            return cached
        path = self._files[frame_index]
        rgb = media.read_image(path)
        self.decoded_frames += 1
        if rgb.shape[:2] != (self._info.height, self._info.width):
            raise media.MediaError(
                path,
                f"frame {frame_index} is {rgb.shape[1]}x{rgb.shape[0]}, the first frame is "
                f"{self._info.width}x{self._info.height}; all frames of a video must have one size",
            )
        rgb.setflags(write=False)
        self._cache[frame_index] = rgb
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rgb

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start`` .. ``stop - 1`` in order."""
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        for index in range(start, stop):
            yield self.read(index)

    def close(self) -> None:
        self.closed = True
        self._cache.clear()

    def __enter__(self) -> ImageSequenceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
