"""Precompute: fill the embedding caches for many images ahead of time (``samdesk precompute``,
prefetching a folder). A long job on the background lane, one image per step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from model_runtime.runtime.requests import Priority
from model_runtime.runtime.work.job import Job, JobContext, JobSteps


@dataclass(frozen=True)
class EncodeItem:
    """One image or frame to encode; ``label`` names it in reports (e.g. the file name)."""

    media_key: str
    frame: int
    image_provider: Callable[[], np.ndarray]
    label: str = ""


@dataclass
class EncodeSummary:
    computed: int = 0
    cached: int = 0  # found in the memory or disk cache
    failed: list[tuple[str, str]] = field(default_factory=list)  # (label, message)


def encode_many(items: Sequence[EncodeItem], *, priority: Priority = Priority.BACKGROUND) -> Job:
    """Fill the caches with the embeddings of ``items``; one step per item.

    A failing item (unreadable file, model error) is recorded and the job goes on with the next.
    The result is an :class:`EncodeSummary`.
    """
    items = list(items)

    def steps(ctx: JobContext) -> JobSteps:
        summary = EncodeSummary()
        for done, item in enumerate(items, start=1):
            try:
                _, source = ctx.embedding_with_source(item.media_key, item.frame, item.image_provider)
            except Exception as exc:
                summary.failed.append((item.label or item.media_key, str(exc) or type(exc).__name__))
            else:
                if source == "computed":
                    summary.computed += 1
                else:
                    summary.cached += 1
            yield done, len(items)
        return summary

    return Job(steps, name="precompute", priority=priority)
