"""What the video formats share: which frames an export writes, and those frames as JPEG files.

**Which frames.** A video's frames that nobody annotated are not "empty": a training loader that
sees them as frames without objects learns the wrong thing. So by default an export writes the
*annotated* frames: those where an exported object has a mask, or marked done (every frame of a
video marked done). ``only_done`` keeps the done frames only; ``all_frames`` writes every frame
(for a video annotated to the end, where an empty frame really is empty). The export's summary
says which (:func:`frames_summary`).

**Frame files.** DAVIS, YouTube-VOS and YouTube-VIS training code reads ``JPEGImages/<video>/
<frame:05d>.jpg`` beside the masks, so the exports decode the video and write those frames
(:class:`FrameFiles`), at full size or resized to DAVIS' 480p.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model_runtime.media import MediaError, open_video
from samdesk.document.media_files import size_problem
from samdesk.document.model import MediaStatus
from samdesk.io.common import DatasetError, ExportOptions, SelectedMedia

JPEG_QUALITY = 95
DAVIS_HEIGHT = 480  # DAVIS' "480p" frames and masks are this many pixels high


@dataclass
class VideoExportOptions(ExportOptions):
    """``all_frames``: write every frame of each video, not only the annotated ones."""

    all_frames: bool = False


def frames_to_export(item: SelectedMedia, options: VideoExportOptions) -> list[int]:
    """The frames of a selected video an export writes, ascending (see the module docstring).

    ``item.frames`` is the selection (all frames, or the done ones with ``only_done``).
    """
    media = item.media
    if options.all_frames or options.only_done or media.status == MediaStatus.DONE:
        return item.frames
    annotated = set(media.done_frames)
    for obj in item.objects:
        annotated.update(obj.frames)
    return [f for f in item.frames if f in annotated]


def frames_summary(written: int, total: int, options: VideoExportOptions) -> str:
    """The summary's phrase for which frames were written (``written`` of ``total`` in all videos)."""
    if options.all_frames:
        return f"frames: all {total}"
    if options.only_done:
        return f"frames: those marked done ({written} of {total})"
    return f"frames: the annotated ones ({written} of {total}; --all-frames writes every frame)"


def davis_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of a video at DAVIS' 480p: 480 px high, the width keeping the aspect
    ratio rounded to an even number as ``ffmpeg -vf scale=-2:480`` does (1920×1080 -> 854×480,
    DAVIS' own 480p size)."""
    new_width = max(2, 2 * round(width * DAVIS_HEIGHT / (2 * height)))
    problem = size_problem(new_width, DAVIS_HEIGHT)
    if problem is not None:
        raise DatasetError(f"a {width}x{height} video at 480p: {problem}")
    return new_width, DAVIS_HEIGHT


class FrameFiles:
    """A video's frames (a video file or a folder of frame images) as JPEG file bytes, read in
    ascending order (one decode per frame), resized to ``size`` (width, height) when it differs
    from the video's."""

    def __init__(self, path: str, width: int, height: int, size: tuple[int, int] | None = None) -> None:
        self.path = path
        self.width, self.height = width, height
        self.size = size or (width, height)
        try:
            self._reader = open_video(path)  # a video file, or a folder of frame images
        except MediaError as exc:
            raise DatasetError(str(exc)) from None

    def __enter__(self) -> FrameFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self._reader.close()

    def jpeg(self, frame: int) -> bytes:
        """Frame ``frame`` as a JPEG file's bytes."""
        try:
            rgb = self._reader.read(frame)
        except IndexError:
            raise DatasetError(
                f"{self.path}: has {self._reader.frame_count} frames, the project has masks or marks "
                f"on frame {frame}"
            ) from None
        except MediaError as exc:
            raise DatasetError(str(exc)) from None
        if rgb.shape[:2] != (self.height, self.width):
            raise DatasetError(
                f"{self.path}: frame {frame} is {rgb.shape[1]}x{rgb.shape[0]}, the project says "
                f"{self.width}x{self.height}"
            )
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if self.size != (self.width, self.height):
            shrink = self.size[1] < self.height
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise DatasetError(f"{self.path}: JPEG encoding of frame {frame} failed")
        return data.tobytes()
