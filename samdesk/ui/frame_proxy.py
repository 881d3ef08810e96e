"""Low-resolution previews of a video's frames, built in the background, so that dragging the
timeline cursor shows frames as fast as the pointer moves (the full-resolution frame replaces
the preview when the cursor stops).

Seeking a long-GOP video (few keyframes: phone videos, screen recordings, ``cups.mp4`` with two
in 300 frames) decodes from the keyframe before the target, up to half a second at 720p; a
preview of any frame is a JPEG of a few KB, decoded in about a millisecond. The previews come
from one sequential pass over the video (each frame decoded once) on a thread of its own at
low priority, with its own reader, so it never moves the display's decoder. Short-GOP videos
and frame folders seek fast and get none.

Qt-free: the GUI turns a preview into a QImage (``QImage.fromData``).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

log = logging.getLogger(__name__)

LONG_SIDE = 384  # preview size: enough to recognise the frame while dragging
JPEG_QUALITY = 80
BUDGET_BYTES = 192 * 2**20  # previews kept per video: ~10 KB each at 384 px, so ~20,000 frames
LONG_GOP = 12  # mean frames per keyframe from which seeking is slow enough to need previews


class FrameProxy:
    """Previews of one video's frames: :meth:`preview` is the JPEG of a frame, or None until the
    background pass has reached it (or when the video does not need previews)."""

    def __init__(self, path: str, *, long_side: int = LONG_SIDE, budget_bytes: int = BUDGET_BYTES) -> None:
        self.path = path
        self.long_side = long_side
        self.budget_bytes = budget_bytes
        self.frame_count = 0
        self.built = 0  # frames with a preview so far
        self.needed: bool | None = None  # None until the video is opened
        self.error = ""
        self._previews: list[bytes | None] = []
        self._bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._build, name="samdesk-frame-proxy", daemon=True)

    def start(self) -> FrameProxy:
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return not self._thread.is_alive() and self._thread.ident is not None

    def preview(self, frame: int) -> bytes | None:
        previews = self._previews
        return previews[frame] if 0 <= frame < len(previews) else None

    def close(self, timeout: float = 2.0) -> None:
        """Stop the background pass (after the frame it is on) and drop the previews."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)
        self._previews = []

    def wait(self, timeout: float | None = None) -> bool:
        """For tests and benchmarks: wait for the pass to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # --- the background pass -------------------------------------------------------------------
    def _build(self) -> None:
        from model_runtime.runtime.threads import lower_current_thread_priority

        lower_current_thread_priority(10)  # the GUI, clicks and tracking come first
        try:
            self._build_previews()
        except Exception as exc:  # previews are a convenience: a failure leaves the full frames
            self.error = str(exc) or type(exc).__name__
            log.warning("no scrubbing previews for %s: %s", self.path, self.error)

    def _build_previews(self) -> None:
        import cv2

        from model_runtime.media import MediaError, open_video

        with open_video(self.path, cache_size=1) as reader:
            keyframes = getattr(reader, "keyframes", None)  # a frame folder seeks at no cost
            count = reader.frame_count
            self.needed = keyframes is not None and count / max(1, len(keyframes)) >= LONG_GOP
            if not self.needed:
                return
            info = reader.info
            scale = min(1.0, self.long_side / max(info.width, info.height, 1))  # never larger than the frame
            size = (max(1, round(info.width * scale)), max(1, round(info.height * scale)))
            self._previews = [None] * count
            self.frame_count = count
            quality = [int(cv2.IMWRITE_JPEG_QUALITY), JPEG_QUALITY]
            for index in range(count):
                if self._stop.is_set():
                    return
                try:
                    rgb = reader.read(index)
                except MediaError:
                    continue  # a damaged frame has no preview; the display says why when asked
                small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(small[..., ::-1]), quality)
                if not ok:
                    continue
                data = jpeg.tobytes()
                self._bytes += len(data)
                if self._bytes > self.budget_bytes:
                    megabytes = self._bytes >> 20
                    log.info("scrubbing previews of %s stop at frame %d: %d MB", self.path, index, megabytes)
                    return
                self._previews[index] = data
                self.built = index + 1
