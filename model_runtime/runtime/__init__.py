"""The model runtime service: model calls off the GUI thread, by priority, with cached embeddings.

See :mod:`model_runtime.runtime.service` and docs/adr/0003-runtime-threading.md.
"""

from model_runtime.api import ModelCapabilityError
from model_runtime.runtime.cache import DiskEmbeddingCache, MemoryEmbeddingCache
from model_runtime.runtime.requests import (
    Callbacks,
    EmbeddingKey,
    EmbeddingUnavailableError,
    EncodeResult,
    LoadResult,
    MediaReadError,
    ModelChangedError,
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
from model_runtime.runtime.service import Job, JobContext, Runtime, RuntimeConfig, model_calls_running
from model_runtime.runtime.threads import ThreadPlan, plan_threads

__all__ = [
    "Callbacks",
    "DiskEmbeddingCache",
    "EmbeddingKey",
    "EmbeddingUnavailableError",
    "EncodeResult",
    "Job",
    "JobContext",
    "LoadResult",
    "MediaReadError",
    "MemoryEmbeddingCache",
    "ModelCapabilityError",
    "ModelChangedError",
    "ModelNotLoadedError",
    "ModelOutOfMemoryError",
    "PredictResult",
    "Priority",
    "RequestHandle",
    "RequestState",
    "Runtime",
    "RuntimeClosedError",
    "RuntimeConfig",
    "RuntimeServiceError",
    "ThreadPlan",
    "WorkerCrashedError",
    "model_calls_running",
    "plan_threads",
]
