"""Connects the main window to the model runtime through :class:`samdesk.runtime_bridge.RuntimeBridge`.

Implements the controller's ``PredictionService``: predictions and encodes are requests to the
bridge, answers come back as queued signals on the GUI thread. Images for the model are decoded
by an ``image_provider`` that the runtime calls on its background thread, never here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject

from samdesk.document import MediaItem
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session import PredictRequest
from samdesk.ui.video_frames import VideoFrames

PENDING_OBJECT = "pending"  # one pending object at a time: newer prompts supersede older ones


def media_key(media: MediaItem) -> str:
    """Cache identity of an image: its content hash when known, else its path."""
    return media.content_hash or f"path:{media.path}"


def image_provider(path: str, frame: int | None = None, frames: VideoFrames | None = None):
    """A function the runtime calls on its worker thread to get RGB uint8 (H, W, 3) pixels:
    the image at ``path``, or with ``frame`` that frame of the video (through ``frames``, the
    window's shared readers, so the frame the display just decoded is not decoded again)."""

    if frame is not None:
        source = frames if frames is not None else VideoFrames()

        def read_frame() -> np.ndarray:
            return source.read(path, frame)

        return read_frame

    def read() -> np.ndarray:
        try:
            from model_runtime.media import read_image  # the shared decoder, when present
        except ImportError:
            read_image = _read_with_pillow
        return read_image(path)

    return read


def _read_with_pillow(path: str | Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        # EXIF orientation applied, as the display decoder does, so clicks land on the same pixels.
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


class ModelLink(QObject):
    """Owns the bridge for one window; ``load(source)`` switches model (path or "classical")."""

    def __init__(self, window, bridge: RuntimeBridge | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.bridge = bridge or RuntimeBridge(parent=self)
        self.bridge.predicted.connect(self._predicted)
        self.bridge.encoded.connect(self._encoded)
        self.bridge.modelLoaded.connect(self._loaded)
        self.bridge.failed.connect(self._failed)
        # The requests whose answers this link handles: the newest predict (the bridge emits
        # nothing for older ones), the load and the encodes still to answer.
        self._predict_request: int | None = None
        self._load_request: int | None = None
        self._encode_media: dict[int, tuple[int, int]] = {}  # encode request id -> (media id, frame)
        self.capabilities: frozenset[str] = frozenset()  # of the loaded model (LoadResult)
        self._loading: str | None = None
        self._quiet_failure = False
        window.closing.append(self.bridge.shutdown)

    # --- PredictionService -------------------------------------------------------------------
    @property
    def model_id(self) -> str | None:
        info = self.bridge.runtime.model_info
        return None if info is None else info.model_id

    def predict(self, request: PredictRequest) -> int:
        media = request.media
        request_id = self.bridge.predict(
            PENDING_OBJECT,
            media_key(media),
            request.frame,
            request.prompts,
            multimask=request.multimask,
            image_provider=self._provider(media, request.frame),
        )
        self._predict_request = request_id
        return request_id

    def prefetch(self, media: list[MediaItem]) -> None:
        """Encode the image on screen now and its neighbours in the background."""
        self._encode([(item, 0) for item in media])

    def prefetch_frames(self, media: MediaItem, frames: list[int]) -> None:
        """Encode frame ``frames[0]`` of a video now and the following ones in the background
        (the runtime keys embeddings by content hash and frame)."""
        # Encodes are never superseded by the runtime: while the user scrubs, the frames passed
        # over would queue up in front of the one they stop at. Drop those not started yet.
        wanted = {(media.id, frame) for frame in frames}
        for rid, target in list(self._encode_media.items()):
            if target[0] == media.id and target not in wanted:
                self.bridge.cancel(rid)
                del self._encode_media[rid]
        self._encode([(media, frame) for frame in frames])

    def _encode(self, targets: list[tuple[MediaItem, int]]) -> None:
        if self.bridge.runtime.model_info is None:
            return
        for index, (item, frame) in enumerate(targets):
            provider = self._provider(item, frame)
            rid = self.bridge.encode(media_key(item), frame, provider, prefetch=index > 0)
            self._encode_media[rid] = (item.id, frame)
            if index == 0:
                self.window.set_encoding(True, "encoding…")

    def _provider(self, media: MediaItem, frame: int):
        if media.frame_count > 1 or media.kind == "video":
            return image_provider(media.path, frame, self.window.loader.frames)
        return image_provider(media.path)

    def _on_screen(self, target: tuple[int, int] | None) -> bool:
        controller = self.window.controller
        return target is not None and target == (controller.media_id, controller.frame)

    # --- model loading -------------------------------------------------------------------------
    def load(self, source: str, quiet: bool = False) -> None:
        """Load ``source`` (a checkpoint path or "classical"). ``quiet``: report failure in the
        status bar instead of a dialog (used for the automatic default at start-up)."""
        self._loading = source
        self._quiet_failure = quiet
        self.window.model_label.setText(f"loading {Path(source).name}…")
        self._load_request = self.bridge.load_model(source)

    def _loaded(self, request_id: int, result: Any) -> None:
        if request_id == self._load_request:
            self._load_request = None
            self._loading = None
        self.capabilities = result.capabilities
        self.window.set_service(self, f"{result.display_name} · {result.device}")

    # --- answers -------------------------------------------------------------------------------
    def _predicted(self, request_id: int, result: Any) -> None:
        if request_id != self._predict_request:
            return
        self._predict_request = None
        prediction = result.prediction
        self.window.controller.prediction_ready(
            request_id, prediction.masks, prediction.scores, prediction.low_res_logits
        )

    def _encoded(self, request_id: int, result: Any) -> None:
        if self._on_screen(self._encode_media.pop(request_id, None)):
            where = "cached" if result.source != "computed" else f"encoded in {result.seconds:.1f} s"
            self.window.set_encoding(False, where)

    def _failed(self, request_id: int, error: BaseException) -> None:
        message = str(error) or type(error).__name__
        if request_id == self._predict_request:
            self._predict_request = None
            self.window.controller.prediction_failed(request_id, message)
        elif request_id == self._load_request:
            self._load_request = None
            source, self._loading = self._loading, None
            info = self.bridge.runtime.model_info
            self.window.model_label.setText(info.display_name if info is not None else "no model")
            text = f"Could not load {source}:\n{message}"
            if self._quiet_failure:
                self.window.statusBar().showMessage(text.replace("\n", " "), 15000)
                if source != "classical" and info is None:
                    # The remembered model is gone (file moved, deleted): start with the
                    # zero-download default rather than with no model at all.
                    self.load("classical", quiet=True)
            else:
                self.window.show_error("Model", text)
        elif request_id in self._encode_media and self._on_screen(self._encode_media.pop(request_id)):
            self.window.set_encoding(False, "encoding failed")
            self.window.statusBar().showMessage(f"Encoding failed: {message}", 15000)
