"""A second model beside the first: a concept model (SAM 3) next to the click model.

One :class:`~model_runtime.runtime.service.Runtime` serves one model: loading another swaps it
out (docs/adr/0003-runtime-threading.md). Two models at once — SAM 3 finding every instance of a
phrase while SAM 2.1 tiny answers clicks — are two runtimes side by side, each a *slot*:

- its own model, so loading SAM 3 into the second slot never unloads the click model, and a
  model swap in one slot fails no request of the other;
- its own two threads: the second model's encode (SAM 3 takes ~30 s on a CPU) runs on its own
  background thread, under ``SCHED_IDLE`` like every encode, so the first slot's interactive
  thread still answers clicks at once;
- its own memory cache (an embedding belongs to one model: the caches never share entries),
  while the disk cache directory is shared: entries live under their model id
  (:class:`~model_runtime.runtime.cache.DiskEmbeddingCache`), so the two never collide.

The second slot's interactive thread (concept queries) runs a few nice levels below the
first's: when both have work on a busy CPU, the click the user waits for comes first and the
concept query takes what is left.

    first = Runtime(config)
    second = Runtime(second_slot_config(config))
"""

from __future__ import annotations

import dataclasses

from model_runtime.runtime.service import RuntimeConfig

SECOND_SLOT_NICE_STEP = 5  # the second slot's queries yield to the first slot's clicks


def second_slot_config(first: RuntimeConfig) -> RuntimeConfig:
    """The configuration of a runtime for a second model beside one configured with ``first``:
    the same caches' bounds and directory, the same thread plan, its interactive thread
    ``SECOND_SLOT_NICE_STEP`` nice levels lower than the first's."""
    return dataclasses.replace(
        first, interactive_nice=min(19, first.interactive_nice + SECOND_SLOT_NICE_STEP)
    )
