"""Where a video session's frames come from, and how SAM 2 turns a video frame into model input.

Frames are read lazily, one at a time, so a session never holds the decoded video: a sequence of
RGB arrays (kept by the caller), a folder of images (read on demand), or a video file (decoded
by :class:`model_runtime.media.VideoReader`, which seeks by keyframe and bounds its own cache).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from model_runtime.api import validate_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VideoError(ValueError):
    """A video that cannot be used: unreadable, corrupt, empty, or a bad frame index."""


class FrameSource(Protocol):
    """Random access to RGB frames."""

    def __len__(self) -> int: ...

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of every frame."""
        ...

    def read(self, index: int) -> np.ndarray:
        """uint8 (H, W, 3) RGB of frame ``index``."""
        ...

    def close(self) -> None:
        """Release what reading holds (a decoder, open files); reading afterwards fails."""
        ...


class ArrayFrames:
    """Frames the caller already holds (a list of uint8 RGB arrays, or a (N, H, W, 3) array)."""

    def __init__(self, frames: Sequence[np.ndarray] | np.ndarray) -> None:
        if len(frames) == 0:
            raise VideoError("the video has no frames")
        self._frames = frames
        first = validate_image(np.asarray(frames[0]))
        self._size = (int(first.shape[0]), int(first.shape[1]))

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    def read(self, index: int) -> np.ndarray:
        try:
            frame = validate_image(np.asarray(self._frames[index]))
        except ValueError as exc:
            raise VideoError(f"frame {index}: {exc}") from exc
        if frame.shape[:2] != self._size:
            raise VideoError(f"frame {index} is {frame.shape[1]}×{frame.shape[0]}, frame 0 is "
                             f"{self._size[1]}×{self._size[0]}; all frames must have one size")
        return frame

    def close(self) -> None:
        self._frames = ()  # the caller's frames are theirs: only the reference goes


class FolderFrames:
    """A folder of image files, one per frame, read on demand, in the order and with the pixels
    every other reader of such a folder sees (``model_runtime.image_sequence``)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        from model_runtime.image_sequence import sequence_files
        from model_runtime.media import MediaError

        self.folder = Path(folder)
        try:
            paths = sequence_files(self.folder)
        except MediaError as exc:
            raise VideoError(str(exc)) from exc
        if not paths:
            raise VideoError(f"{self.folder}: no image files in this folder")
        self.paths = paths
        first = self.read(0)
        self._size = (int(first.shape[0]), int(first.shape[1]))

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    def read(self, index: int) -> np.ndarray:
        from model_runtime.media import MediaError, read_image

        path = self.paths[index]
        try:
            frame = read_image(path)
        except MediaError as exc:
            raise VideoError(f"{path}: cannot read this frame ({exc.problem})") from exc
        if index and frame.shape[:2] != self._size:
            raise VideoError(f"{path} is {frame.shape[1]}×{frame.shape[0]}, the first frame is "
                             f"{self._size[1]}×{self._size[0]}; all frames must have one size")
        return frame

    def close(self) -> None:
        """Nothing stays open between reads."""


class ReaderFrames:
    """A video file through :class:`model_runtime.media.VideoReader` (keyframe-aware seeking,
    bounded decoded-frame cache)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from model_runtime.media import MediaError, VideoReader

        self.path = Path(path)
        try:
            self._reader = VideoReader(self.path)
        except MediaError as exc:
            raise VideoError(str(exc)) from exc
        info = self._reader.info
        if info.kind != "video":
            raise VideoError(f"{self.path}: not a video")
        if self._reader.frame_count == 0:
            raise VideoError(f"{self.path}: the video has no frames")
        self._size = (int(info.height), int(info.width))

    def __len__(self) -> int:
        return self._reader.frame_count

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    def read(self, index: int) -> np.ndarray:
        from model_runtime.media import MediaError

        try:
            return self._reader.read(index)
        except MediaError as exc:
            raise VideoError(str(exc)) from exc

    def close(self) -> None:
        self._reader.close()


VideoSource = str | os.PathLike[str] | Sequence[np.ndarray] | np.ndarray | FrameSource


def open_frames(source: VideoSource) -> FrameSource:
    """A video file, a folder of frames, a sequence of RGB arrays, or a ready frame source."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise VideoError(f"{path}: no such file or folder")
        return FolderFrames(path) if path.is_dir() else ReaderFrames(path)
    if hasattr(source, "read") and hasattr(source, "frame_size"):
        if len(source) == 0:  # type: ignore[arg-type]
            raise VideoError("the video has no frames")
        return source  # type: ignore[return-value]
    return ArrayFrames(source)  # type: ignore[arg-type]


def preprocess_video_frame(frame: np.ndarray, size: int = 1024) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> float32 (1, 3, size, size), as the official video loader does it.

    Not the image path: Pillow's bicubic resize on uint8 to a square, ÷255 in float64, cast to
    float32, then ``(x - mean) / std`` in float32.
    """
    resized = np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.BICUBIC))
    scaled = torch.from_numpy(resized / 255.0).permute(2, 0, 1).to(torch.float32)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    return ((scaled - mean) / std)[None]
