"""The model runtime service: model calls off the GUI thread, by priority, with cached embeddings.

See :mod:`model_runtime.runtime.service` and docs/adr/0003-runtime-threading.md. Importing this
package does not import torch (the runtime threads do, when they start working).
"""

from model_runtime.api import ModelCapabilityError
from model_runtime.runtime.cache import DiskEmbeddingCache, MemoryEmbeddingCache
from model_runtime.runtime.requests import (
    Callbacks,
    EmbeddingKey,
    EmbeddingUnavailableError,
    EncodeResult,
    MediaReadError,
    ModelChangedError,
    ModelLoaded,
    ModelNotLoadedError,
    ModelOutOfMemoryError,
    PredictResult,
    Priority,
    RequestHandle,
    RequestState,
    RuntimeClosedError,
    RuntimeServiceError,
    WorkerCrashedError,
)
from model_runtime.runtime.scheduler import model_calls_running
from model_runtime.runtime.service import Runtime, RuntimeConfig
from model_runtime.runtime.threads import ThreadPlan, plan_threads
from model_runtime.runtime.work.find_all import FindAllResult
from model_runtime.runtime.work.job import Job, JobContext, JobFactory, JobSteps
from model_runtime.runtime.work.precompute import EncodeItem, EncodeSummary, encode_many
from model_runtime.runtime.work.segment_everything import segment_everything
from model_runtime.runtime.work.track import TrackedFrame, TrackingSummary, TrackPrompt, track_video
from model_runtime.runtime.work.track_concept import (
    ConceptTracks,
    PhraseSummary,
    release_tracks,
    retrack_instance,
    track_phrase,
)

__all__ = [
    "Callbacks",
    "ConceptTracks",
    "DiskEmbeddingCache",
    "EmbeddingKey",
    "EmbeddingUnavailableError",
    "EncodeItem",
    "EncodeResult",
    "EncodeSummary",
    "FindAllResult",
    "Job",
    "JobContext",
    "JobFactory",
    "JobSteps",
    "ModelLoaded",
    "MediaReadError",
    "MemoryEmbeddingCache",
    "ModelCapabilityError",
    "ModelChangedError",
    "ModelNotLoadedError",
    "ModelOutOfMemoryError",
    "PhraseSummary",
    "PredictResult",
    "Priority",
    "RequestHandle",
    "RequestState",
    "Runtime",
    "RuntimeClosedError",
    "RuntimeConfig",
    "RuntimeServiceError",
    "ThreadPlan",
    "TrackPrompt",
    "TrackedFrame",
    "TrackingSummary",
    "WorkerCrashedError",
    "encode_many",
    "model_calls_running",
    "plan_threads",
    "release_tracks",
    "retrack_instance",
    "segment_everything",
    "track_phrase",
    "track_video",
]
