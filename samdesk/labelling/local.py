"""The model part of a batch run on this machine: one long job on the model runtime.

The job labels one image per step through the runtime's embedding caches (keyed like the GUI's
and ``samdesk precompute``'s, so embeddings computed there are reused), and yields between the
parts of a segment-everything sweep, so a cancel takes effect within one part. Each image's
:class:`ImageLabels` reaches the caller's thread through a queue.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samdesk.labelling.found import ImageLabels, ModelUnusable, check_model, label_steps
from samdesk.labelling.request import LabelRequest
from samdesk.labelling.run import WorkItem

if TYPE_CHECKING:
    from model_runtime.api import ModelInfo
    from model_runtime.runtime import Job, JobContext, JobSteps, RuntimeConfig
    from model_runtime.runtime.scheduler import ModelLoader

_POLL_S = 0.2


def label_many(items: Sequence[WorkItem]) -> Job:
    """A runtime job labelling ``items`` in order: one step per image (more for a sweep), each
    image's :class:`ImageLabels` handed to ``on_partial``. A failing image is reported in its
    labels (``error``) and the job goes on with the next."""
    from model_runtime.runtime import Job

    items = list(items)

    def steps(ctx: JobContext) -> JobSteps:
        for done, item in enumerate(items, start=1):
            labels = ImageLabels(item.media_id, ctx.model_id)
            start = time.perf_counter()
            try:
                reader = image_reader(Path(item.path))
                embedding = ctx.embedding(item.content_hash, 0, reader)
                image_steps = label_steps(ctx.model, embedding, reader, item.request)
                try:
                    while True:
                        finished, value = ctx.call(_advance, image_steps)
                        if finished:
                            labels.found = value
                            break
                        yield done - 1, len(items)
                finally:
                    image_steps.close()  # a cancelled job stops the sweep between two parts
            except Exception as exc:
                labels.error = str(exc) or type(exc).__name__
            labels.seconds = time.perf_counter() - start
            yield done, len(items), labels
        return done if items else 0

    return Job(steps, name="label")


def run_local(
    items: Sequence[WorkItem],
    request: LabelRequest,
    model: str,
    device: str | None,
    config: RuntimeConfig,
    receive: Callable[[ImageLabels], None],
    on_model: Callable[[ModelInfo], None] | None = None,
    loader: ModelLoader | None = None,
) -> None:
    """Label ``items`` with ``model`` on this machine, calling ``receive`` on this thread with
    each image's labels as it is done. Raises :class:`ModelUnusable` when the model cannot be
    loaded or cannot serve ``request``; ``KeyboardInterrupt``
    cancels the job, hands over what was finished, and is raised again."""
    from model_runtime.runtime import Callbacks, Runtime

    runtime = Runtime(config, loader=loader)
    try:
        try:
            runtime.load_model(model, device).result()
            info = runtime.model_info
            assert info is not None
            check_model(info, request)
        except Exception as exc:
            raise ModelUnusable(f"cannot use model {model}: {exc}") from exc
        if on_model is not None:
            on_model(info)
        results: queue.Queue[ImageLabels] = queue.Queue()
        callbacks = Callbacks(on_partial=lambda _rid, labels: results.put(labels))
        handle = runtime.run_job(label_many(items), callbacks=callbacks)
        try:
            while True:
                try:
                    receive(results.get(timeout=_POLL_S))
                    continue
                except queue.Empty:
                    pass
                if handle.wait(0):
                    break
            _drain(results, receive)
            handle.result()  # a job that failed as a whole (the model went away) raises here
        except KeyboardInterrupt:
            handle.cancel()
            _drain(results, receive)
            raise
    finally:
        runtime.close()


def _advance(steps: Generator[Any, None, Any]) -> tuple[bool, Any]:
    """One ``next(steps)``: (False, the value yielded) or (True, the value returned)."""
    try:
        return False, next(steps)
    except StopIteration as stop:
        return True, stop.value


def _drain(results: queue.Queue[Any], receive: Callable[[ImageLabels], None]) -> None:
    while True:
        try:
            receive(results.get_nowait())
        except queue.Empty:
            return


def image_reader(path: Path) -> Callable[[], Any]:
    def read() -> Any:
        from model_runtime.media import read_image

        # The GUI's reader (EXIF orientation applied), so embeddings and masks match it.
        return read_image(path)

    return read
