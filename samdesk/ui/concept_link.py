"""The concept model's side of the window: SAM 3 in a second model slot beside the click model.

The click model lives in the window's runtime bridge (``model_link.py``). A concept model loaded
from Model ▸ Load concept model… gets a runtime of its own (``model_runtime.runtime.slots``): its
own threads and cache, so its ~30 s CPU encode never delays a click, and loading it never
unloads the click model. When the click model itself can find concepts (SAM 3 loaded as the
only model), queries go to it and no second slot is made.

This link asks for find-all queries and says what they are doing (``stage``: encoding the
image, finding), answers with ``found`` or ``failed``, and cancels. It also refines one proposed
instance with clicks (:class:`samdesk.session.review.Refiner`): with the click model when there
is one (its embedding is usually ready), else with SAM 3's interactive head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal

from model_runtime.api import Capability, ModelCapabilityError, PromptError
from model_runtime.devices import explicit_device
from model_runtime.runtime import EmbeddingKey
from model_runtime.runtime.slots import second_slot_config
from samdesk.document import MediaItem
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session import PredictRequest
from samdesk.session.find_all import FindAllQuery
from samdesk.ui.model_link import image_provider, media_key
from samdesk.ui.shared_frames import VideoFrames

QUERY_KEY = "find-all"  # one query at a time: a newer one supersedes the queued one
REFINE_KEY = "refine-instance"
TICK_MS = 250  # how often the elapsed time is shown again

NO_CONCEPT_MODEL = (
    "Find all needs a concept model (SAM 3). Request access to facebook/sam3 on Hugging Face, "
    "download sam3.pt, then run `samdesk models add sam3.pt` (or Model ▸ Load concept model…)."
)


class ConceptLink(QObject):
    """See the module docstring. ``main`` is the window's bridge (the click model)."""

    loading = Signal(str)  # what is being loaded
    loaded = Signal(str)  # "name · device" of the concept model now in the second slot
    load_failed = Signal(str)  # why
    stage = Signal(str, float)  # what the query is doing ("" when idle), seconds since asked
    found = Signal(object, object)  # the FindAllQuery, the FindAllResult
    failed = Signal(str)  # a query failed: why
    refined = Signal(int, object, object)  # request id, masks, scores
    refine_failed = Signal(int, str)

    def __init__(self, main: RuntimeBridge, frames: VideoFrames, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main = main
        self.frames = frames
        self.second: RuntimeBridge | None = None
        self.device: str = "auto"  # where the concept model is loaded (MainWindow.use_device)
        self.second_source: str | None = None
        self._load_request: int | None = None
        self._query: tuple[RuntimeBridge, int, FindAllQuery] | None = None
        self._encode: tuple[RuntimeBridge, int] | None = None
        self._refines: dict[int, RuntimeBridge] = {}
        self._stage_text = ""
        self._clock = QElapsedTimer()
        self._ticker = QTimer(self)
        self._ticker.setInterval(TICK_MS)
        self._ticker.timeout.connect(self._tick)
        self._connect(main)

    # --- the second slot ---------------------------------------------------------------------

    def load(self, source: str) -> None:
        """Load ``source`` (a SAM 3 checkpoint) into the second slot, made on first use."""
        if self.second is None:
            self.second = RuntimeBridge(config=second_slot_config(self.main.runtime.config), parent=self)
            self._connect(self.second)
        self.second_source = source
        self.loading.emit(f"loading {Path(source).name}…")
        self._load_request = self.second.load_model(source, explicit_device(self.device))

    def unload(self) -> None:
        """Close the second slot: its model, threads and cached embeddings go."""
        self.cancel()
        if self.second is not None:
            self.second.shutdown()
            self.second.deleteLater()
        self.second, self.second_source, self._load_request = None, None, None

    def shutdown(self, timeout: float = 2.0) -> None:
        self.cancel()
        if self.second is not None:
            self.second.shutdown(timeout)

    @property
    def loading_now(self) -> bool:
        return self._load_request is not None

    def concept_bridge(self) -> RuntimeBridge | None:
        """Where concept queries go: the second slot's model, else the click model if it can."""
        for bridge in (self.second, self.main):
            info = None if bridge is None else bridge.runtime.model_info
            if info is not None and info.can(Capability.CONCEPT):
                return bridge
        return None

    def video_bridge(self) -> RuntimeBridge | None:
        """Where phrase tracking goes: the model (second slot first) that tracks a phrase."""
        for bridge in (self.second, self.main):
            info = None if bridge is None else bridge.runtime.model_info
            if info is not None and info.can(Capability.CONCEPT_VIDEO):
                return bridge
        return None

    def capabilities(self) -> tuple[frozenset[str] | None, str]:
        """What the models of both slots can do together, and the concept model's name (else
        the click model's; "" with none): for enabling the concept actions."""
        infos = [b.runtime.model_info for b in (self.second, self.main) if b is not None]
        infos = [i for i in infos if i is not None]
        if not infos:
            return None, ""
        return frozenset().union(*(i.capabilities for i in infos)), infos[0].display_name

    def description(self) -> str:
        bridge = self.concept_bridge()
        info = None if bridge is None else bridge.runtime.model_info
        return "" if info is None else info.display_name

    # --- queries -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._query is not None

    def find_all(self, media: MediaItem, frame: int, query: FindAllQuery) -> bool:
        """Ask for every instance of ``query`` on ``media``/``frame``; False (``failed`` said
        why) when no model can answer it."""
        bridge = self.concept_bridge()
        if bridge is None:
            self.failed.emit(NO_CONCEPT_MODEL)
            return False
        self.cancel()
        key = media_key(media)
        provider = self._provider(media, frame)
        info = bridge.runtime.model_info
        assert info is not None
        cached = EmbeddingKey(key, frame, info.model_id) in bridge.runtime.memory_cache
        try:
            if not cached:
                self._encode = (bridge, bridge.encode(key, frame, provider))
            request = bridge.find_all(QUERY_KEY, key, frame, query.prompts(), threshold=query.threshold,
                                      image_provider=provider)
        except (PromptError, ModelCapabilityError) as exc:
            self.cancel()
            self.failed.emit(str(exc))
            return False
        self._query = (bridge, request, query)
        what = ", ".join(query.phrases) or "the exemplars"
        self._clock.start()
        self._set_stage(f"encoding the image with {info.display_name}…" if not cached else f"finding {what}…")
        self._finding_text = f"finding {what}…"
        self._ticker.start()
        return True

    def prefetch(self, media: MediaItem, frame: int) -> None:
        """Encode the image on screen for the concept model in the background (only while the
        find-all bar is open: a SAM 3 encode is long and large)."""
        bridge = self.concept_bridge()
        if bridge is not None and bridge is self.second:
            bridge.encode(media_key(media), frame, self._provider(media, frame), prefetch=True)

    def cancel(self) -> None:
        """Stop waiting for the query in flight (a running model call finishes; its answer is
        dropped) and the encode asked for it."""
        for entry in (self._query, self._encode):
            if entry is not None:
                entry[0].cancel(entry[1])
        self._query = self._encode = None
        self._ticker.stop()
        self._set_stage("")

    # --- refining (samdesk.session.review.Refiner) -------------------------------------------

    def refine(self, request: PredictRequest) -> int:
        """Refine one proposed instance with clicks: the click model if there is one, else the
        concept model's interactive head. Raises ``ModelCapabilityError`` when none can."""
        for bridge in (self.main, self.second):
            info = None if bridge is None else bridge.runtime.model_info
            if bridge is not None and info is not None and info.can(Capability.CLICK):
                media = request.media
                rid = bridge.predict(REFINE_KEY, media_key(media), request.frame, request.prompts,
                                     multimask=request.multimask,
                                     image_provider=self._provider(media, request.frame))
                self._refines = {rid: bridge}  # only the newest counts
                return rid
        raise ModelCapabilityError("no loaded model answers clicks: load one in the Model menu")

    # --- answers -------------------------------------------------------------------------------

    def _connect(self, bridge: RuntimeBridge) -> None:
        bridge.found.connect(lambda rid, result, b=bridge: self._found(b, rid, result))
        bridge.encoded.connect(lambda rid, result, b=bridge: self._encoded(b, rid))
        bridge.failed.connect(lambda rid, error, b=bridge: self._failed(b, rid, error))
        bridge.predicted.connect(lambda rid, result, b=bridge: self._predicted(b, rid, result))
        bridge.modelLoaded.connect(lambda rid, result, b=bridge: self._loaded(b, rid, result))
        # Out of device memory, the runtime reloads the model on the CPU by itself: show where.
        bridge.modelChanged.connect(lambda result, b=bridge: self._changed_by_runtime(b, result))

    def _found(self, bridge: RuntimeBridge, rid: int, result: Any) -> None:
        if self._query is None or self._query[:2] != (bridge, rid):
            return
        query = self._query[2]
        self._query = self._encode = None
        self._ticker.stop()
        self._set_stage("")
        self.found.emit(query, result)

    def _encoded(self, bridge: RuntimeBridge, rid: int) -> None:
        if self._encode is not None and self._encode == (bridge, rid):
            self._encode = None
            if self._query is not None:
                self._set_stage(self._finding_text)

    def _failed(self, bridge: RuntimeBridge, rid: int, error: BaseException) -> None:
        message = str(error) or type(error).__name__
        if self._query is not None and self._query[:2] == (bridge, rid):
            self.cancel()
            self.failed.emit(message)
        elif self._encode is not None and self._encode == (bridge, rid):
            self._encode = None  # the query parked on it fails with the same error
        elif self._refines.get(rid) is bridge:
            del self._refines[rid]
            self.refine_failed.emit(rid, message)
        elif bridge is self.second and rid == self._load_request:
            self._load_request = None
            self.load_failed.emit(f"Could not load {self.second_source}: {message}")

    def _predicted(self, bridge: RuntimeBridge, rid: int, result: Any) -> None:
        if self._refines.get(rid) is bridge:
            del self._refines[rid]
            prediction = result.prediction
            self.refined.emit(rid, prediction.masks, prediction.scores)

    def _changed_by_runtime(self, bridge: RuntimeBridge, result: Any) -> None:
        if bridge is self.second:
            self.loaded.emit(f"{result.display_name} · {result.device}")

    def _loaded(self, bridge: RuntimeBridge, rid: int, result: Any) -> None:
        if bridge is self.second and rid == self._load_request:
            self._load_request = None
            if not result.can(Capability.CONCEPT):
                source = self.second_source
                self.unload()
                self.load_failed.emit(f"{source} is {result.display_name}: it cannot find concepts. "
                                      + NO_CONCEPT_MODEL)
                return
            self.loaded.emit(f"{result.display_name} · {result.device}")

    # --- plumbing --------------------------------------------------------------------------------

    def _provider(self, media: MediaItem, frame: int):
        if media.frame_count > 1 or media.kind == "video":
            return image_provider(media.path, frame, self.frames)
        return image_provider(media.path)

    def _set_stage(self, text: str) -> None:
        self._stage_text = text
        self.stage.emit(text, self._clock.elapsed() / 1000 if text and self._clock.isValid() else 0.0)

    def _tick(self) -> None:
        if self._query is not None:
            self.stage.emit(self._stage_text, self._clock.elapsed() / 1000)
