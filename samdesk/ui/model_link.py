"""The session's model side in the app: predictions, encodes and model loads through
:class:`samdesk.runtime_bridge.RuntimeBridge`.

Implements the session's ``PredictionService``: predictions and encodes are requests to the
bridge, answers come back as queued signals on the GUI thread. Images for the model are decoded
by an ``image_provider`` that the runtime calls on its background thread, never here.

It knows no window: what the user should see (the model, the encode in progress, failures)
leaves as signals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from model_runtime.devices import explicit_device
from samdesk.document import MediaItem
from samdesk.document.media_files import media_present
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session import AnnotationController, PredictRequest
from samdesk.session.requests import media_key
from samdesk.ui.shared_frames import VideoFrames

PENDING_OBJECT = "pending"  # one pending object at a time: newer prompts supersede older ones


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
        from model_runtime.media import read_image  # imports PyAV: not at start-up

        return read_image(path)

    return read


class ModelLink(QObject):
    """The loaded model for one window's session; ``load(source)`` switches model."""

    loading = Signal(str)  # what is being loaded, for the status bar
    loaded = Signal(str, object)  # "name · device", the model's capabilities (frozenset[str])
    load_failed = Signal(str)  # what is loaded now ("no model" when nothing is)
    load_error = Signal(str, str)  # what failed to load, the whole reason (the window asks what next)
    encoding = Signal(bool, str)  # the image on screen: being encoded?, how it went
    message = Signal(str, int)  # status bar text, milliseconds
    error = Signal(str, str)  # title, message

    def __init__(self, bridge: RuntimeBridge, controller: AnnotationController, frames: VideoFrames) -> None:
        super().__init__(bridge)
        self.bridge = bridge
        self.controller = controller
        self.frames = frames  # the display's video readers, shared with the model's provider
        bridge.predicted.connect(self._predicted)
        bridge.encoded.connect(self._encoded)
        bridge.modelLoaded.connect(self._loaded)
        bridge.modelChanged.connect(self._changed_by_runtime)
        bridge.failed.connect(self._failed)
        # The requests whose answers this link handles: the newest predict (the bridge emits
        # nothing for older ones), the load and the encodes still to answer.
        self._predict_request: int | None = None
        self._load_request: int | None = None
        self._encode_media: dict[int, tuple[int, int]] = {}  # encode request id -> (media id, frame)
        self.capabilities: frozenset[str] = frozenset()  # of the loaded model (ModelLoaded)
        self._loading: str | None = None
        # Where models are loaded: a device name or "auto" (model_runtime.devices); the window
        # sets it (MainWindow.use_device). A name this machine lacks fails the load with the
        # reason, like any other load failure.
        self.device: str = "auto"

    @property
    def requests_in_flight(self) -> set[int]:
        """Ids of the requests whose answers this link still waits for."""
        ids = set(self._encode_media)
        ids.update(r for r in (self._predict_request, self._load_request) if r is not None)
        return ids

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
        targets = [(item, frame) for item, frame in targets if media_present(item.path)]  # (one stat each)
        for index, (item, frame) in enumerate(targets):
            provider = self._provider(item, frame)
            rid = self.bridge.encode(media_key(item), frame, provider, prefetch=index > 0)
            self._encode_media[rid] = (item.id, frame)
            if index == 0:
                self.encoding.emit(True, "encoding…")

    def _provider(self, media: MediaItem, frame: int):
        if media.frame_count > 1 or media.kind == "video":
            return image_provider(media.path, frame, self.frames)
        return image_provider(media.path)

    def _on_screen(self, target: tuple[int, int] | None) -> bool:
        return target is not None and target == (self.controller.media_id, self.controller.frame)

    # --- model loading -------------------------------------------------------------------------
    def load(self, source: str) -> None:
        """Load ``source`` (a checkpoint path or "classical"). A failure leaves as
        ``load_error`` with the whole reason; nothing else is loaded in its place."""
        self._loading = source
        self.loading.emit(f"loading {Path(source).name}…")
        # "auto" travels as None (plugins' loaders take None for "the best available").
        self._load_request = self.bridge.load_model(source, explicit_device(self.device))

    def _loaded(self, request_id: int, result: Any) -> None:
        if request_id == self._load_request:
            self._load_request = None
            self._loading = None
        self.capabilities = frozenset(result.capabilities)
        self.controller.service = self
        self.loaded.emit(f"{result.display_name} · {result.device}", self.capabilities)
        self.controller.prefetch()

    def _changed_by_runtime(self, result: Any) -> None:
        """The runtime loaded a model by itself (out of device memory: the same model on the
        CPU): show it as loaded and say why."""
        self._loaded(-1, result)
        if result.note:
            self.message.emit(result.note, 15000)

    # --- answers -------------------------------------------------------------------------------
    def _predicted(self, request_id: int, result: Any) -> None:
        if request_id != self._predict_request:
            return
        self._predict_request = None
        prediction = result.prediction
        self.controller.prediction_ready(
            request_id, prediction.masks, prediction.scores, prediction.low_res_logits
        )

    def _encoded(self, request_id: int, result: Any) -> None:
        if self._on_screen(self._encode_media.pop(request_id, None)):
            where = "cached" if result.source != "computed" else f"encoded in {result.seconds:.1f} s"
            self.encoding.emit(False, where)

    def _failed(self, request_id: int, error: BaseException) -> None:
        message = str(error) or type(error).__name__
        if request_id == self._predict_request:
            self._predict_request = None
            self.controller.prediction_failed(request_id, message)
        elif request_id == self._load_request:
            self._load_request = None
            source, self._loading = self._loading, None
            info = self.bridge.runtime.model_info
            self.load_failed.emit(info.display_name if info is not None else "no model")
            self.load_error.emit(str(source), message)
        elif request_id in self._encode_media and self._on_screen(self._encode_media.pop(request_id)):
            self.encoding.emit(False, "encoding failed")
            self.message.emit(f"Encoding failed: {message}", 15000)
