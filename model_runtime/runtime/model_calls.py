"""How the runtime calls a model: without autograd, with clear out-of-memory errors, and with
embeddings through the memory and disk caches. Used from the runtime threads only.

No autocast: what runs in reduced precision is the model's decision (``ModelInfo.compute_dtype``,
part of the cache key), never a blanket one here.

Out of memory on a device (issue 22): the memory cache and the device's cached blocks are freed
and the call is tried once more (``retry``: only calls that can safely run twice, i.e. encodes,
clicks and concept queries, not a long job's step, which may have advanced its state). If the
device runs out again, ``on_device_exhausted(model, reason)`` is told (the scheduler then loads
the same model on the CPU, see ``Scheduler.fall_back_to_cpu``) and the request fails with a
:class:`ModelOutOfMemoryError` that says what happens next. Nothing crashes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from model_runtime.api import ImageEmbedding, ImageModel, VideoFrameEncoder, validate_image
from model_runtime.runtime.cache import DiskEmbeddingCache, MemoryEmbeddingCache
from model_runtime.runtime.requests import (
    EmbeddingKey,
    EmbeddingUnavailableError,
    MediaReadError,
    ModelOutOfMemoryError,
    is_video_frames_key,
)

log = logging.getLogger(__name__)

ImageProvider = Callable[[], np.ndarray]
# (the model that ran out, why) -> True when it will be loaded on the CPU in its place
DeviceExhaustedHook = Callable[[ImageModel, str], bool]


class ModelCalls:
    """The model calls of one runtime, and the embedding caches they fill."""

    def __init__(self, memory_cache: MemoryEmbeddingCache, disk_cache: DiskEmbeddingCache | None) -> None:
        self.memory_cache = memory_cache
        self.disk_cache = disk_cache
        self.on_device_exhausted: DeviceExhaustedHook | None = None  # set by the scheduler

    def call(
        self,
        model: ImageModel,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        retry: bool = False,
        **kwargs: Any,
    ) -> Any:
        """``fn(*args, **kwargs)`` without autograd. Out of memory: the caches are freed, the
        call is tried once more when ``retry`` (it must be safe to run twice), and then it
        becomes :class:`ModelOutOfMemoryError` saying ``what`` was being done and what happens
        next (see the module docstring)."""
        import torch  # runtime threads only: importing torch takes seconds, never on the GUI thread

        device = str(model.info.device)
        attempts = 2 if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                with torch.no_grad():
                    return fn(*args, **kwargs)
            except torch.OutOfMemoryError as exc:  # torch.cuda.OutOfMemoryError is the same class
                self._free_device_memory(device)
                if attempt < attempts:
                    log.warning("out of memory on %s while %s; cache freed, trying once more", device, what)
                    continue
                raise self._exhausted(model, what, device) from exc
            except MemoryError as exc:
                self.memory_cache.clear()
                raise ModelOutOfMemoryError(
                    f"out of memory while {what} with {model.info.display_name}; cached embeddings were freed"
                ) from exc
        raise AssertionError("unreachable")  # every attempt returns or raises

    def _exhausted(self, model: ImageModel, what: str, device: str) -> ModelOutOfMemoryError:
        name = model.info.display_name
        reason = f"out of memory on {device} while {what} with {name}"
        again = ", also after freeing cached embeddings" if not device.startswith("cpu") else ""
        hook = self.on_device_exhausted
        if not device.startswith("cpu") and hook is not None and hook(model, reason):
            return ModelOutOfMemoryError(
                f"{reason}{again}; {name} is being loaded on the CPU (slower, but it fits) — try again"
            )
        return ModelOutOfMemoryError(
            f"{reason}{again}; cached embeddings were freed — try again, or use a smaller model or "
            "another device"
        )

    def embedding(
        self, model: ImageModel, media_key: str, frame: int, image_provider: ImageProvider | None
    ) -> tuple[ImageEmbedding, str]:
        """The embedding of ``media_key``/``frame`` by ``model`` and where it came from:
        "memory", "disk", or "computed" (then stored in both caches). Under a
        :func:`video_frames_key`, a model that can encodes the frame as tracking does."""
        key = EmbeddingKey(media_key, frame, model.info.model_id)
        found = self.cached(model, key)
        if found is not None:
            return found
        if image_provider is None:
            raise EmbeddingUnavailableError(
                f"no embedding of media {media_key} frame {frame} for {model.info.display_name} "
                "is cached, and no image was given to compute it"
            )
        try:
            image = validate_image(image_provider())
        except Exception as exc:
            # str() of a MemoryError is empty: the type is the reason then.
            reason = str(exc) or type(exc).__name__
            raise MediaReadError(f"could not read media {media_key} frame {frame}: {reason}") from exc
        encode = model.encode_image
        if is_video_frames_key(media_key) and isinstance(model, VideoFrameEncoder):
            encode = model.encode_video_frame
        embedding = self.call(model, f"encoding media {media_key} frame {frame}", encode, image, retry=True)
        self.memory_cache.put(key, embedding)
        if self.disk_cache is not None:
            self.disk_cache.put(key, embedding)
        return embedding, "computed"

    def cached(self, model: ImageModel, key: EmbeddingKey) -> tuple[ImageEmbedding, str] | None:
        """The embedding of ``key`` from memory, else from disk (then kept in memory), with
        where it came from; None when neither cache has it."""
        embedding = self.memory_cache.get(key)
        if embedding is not None:
            return embedding, "memory"
        if self.disk_cache is not None:
            embedding = self.disk_cache.get(key, device=model.info.device)
            if embedding is not None:
                self.memory_cache.put(key, embedding)
                return embedding, "disk"
        return None

    def _free_device_memory(self, device: str) -> None:
        self.memory_cache.clear()
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
