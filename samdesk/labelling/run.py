"""A whole batch run over a project: which images still need which tasks, their results applied
in image order whatever order they arrive in, atomic saves along the way, and the summary.

The model part runs elsewhere (:mod:`~samdesk.labelling.local`, :mod:`~samdesk.labelling.cluster`)
and hands each image's :class:`ImageLabels` to :meth:`LabellingRun.receive`. Results are applied
in the order of the work list, so a run on a cluster, where images finish in any order, writes
the same project as a run on this machine. Each image is one undoable step that also records
what was run on it, so an interrupted run loses at most the images since the last save, and
re-running the same command does only what is missing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from samdesk.document import AddMedia, Document, MediaItem, MediaKind
from samdesk.document.persistence import FileStamp, save_project
from samdesk.labelling.apply import ApplyOptions, ImageOutcome, image_change
from samdesk.labelling.found import ImageLabels
from samdesk.labelling.request import LabelRequest
from samdesk.labelling.store import LabellingRecord

DEFAULT_SAVE_INTERVAL_S = 10.0


@dataclass(frozen=True)
class WorkItem:
    """One image to label: its place in the run, media id, file and content hash, and the tasks
    it still needs (``request`` restricted to them)."""

    index: int
    media_id: int
    path: str
    content_hash: str
    request: LabelRequest


@dataclass
class CategoryCounts:
    found: int = 0
    added: int = 0
    pending: int = 0
    duplicates: int = 0


@dataclass
class RunSummary:
    """``to_do``: images with tasks left when the run started; ``skipped``: images that had every
    task already; ``labelled``/``failed`` (name, why): how those to do ended; ``seconds``: model
    time of each labelled image; ``per_category``: counts by category name."""

    to_do: int = 0
    skipped: int = 0
    labelled: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    per_category: dict[str, CategoryCounts] = field(default_factory=dict)
    repeated: int = 0  # results for an image already applied (never expected; counted, not applied)

    @property
    def finished(self) -> int:
        return self.labelled + len(self.failed)

    def median_seconds(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


def add_media(document: Document, paths: Sequence[Path]) -> tuple[list[MediaItem], list[tuple[Path, str]]]:
    """The project's media for ``paths`` (in order, each once): an existing media item with the
    same path or the same content, else a new one. Also the files that are not readable images."""
    from samdesk.document.media_files import MediaError, media_item_from_path

    project = document.project
    by_path = {os.path.abspath(m.path): m for m in project.media}
    by_hash = {m.content_hash: m for m in project.media if m.content_hash and m.kind == MediaKind.IMAGE}
    found: list[MediaItem] = []
    problems: list[tuple[Path, str]] = []
    for path in paths:
        item = by_path.get(os.path.abspath(path))
        if item is None:
            try:
                new = media_item_from_path(path)
            except MediaError as exc:
                problems.append((path, str(exc)))
                continue
            if new.kind != MediaKind.IMAGE:
                problems.append((path, "not an image (videos are not batch labelled)"))
                continue
            item = by_hash.get(new.content_hash)
            if item is None:
                command = AddMedia(new)
                document.execute(command)
                item = project.media_item(command.item.id)
                by_hash[item.content_hash] = item
            by_path[os.path.abspath(path)] = item
        if all(item.id != m.id for m in found):
            found.append(item)
    return found, problems


def work_list(
    document: Document, media: Sequence[MediaItem], request: LabelRequest, redo: bool = False
) -> tuple[list[WorkItem], int]:
    """The images of ``media`` with tasks of ``request`` not yet run on them (all with ``redo``),
    and how many had every task already."""
    record = LabellingRecord.of(document.project)
    items: list[WorkItem] = []
    skipped = 0
    for item in media:
        done = set() if redo else set(record.done_tasks(item.id))
        missing = [key for key in request.task_keys if key not in done]
        if not missing:
            skipped += 1
            continue
        items.append(WorkItem(len(items), item.id, item.path, item.content_hash, request.only(missing)))
    return items, skipped


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl+C (SIGINT) until the block is done, then raise ``KeyboardInterrupt``; outside
    the main thread, or where Python does not handle SIGINT, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class LabellingRun:
    """Applies the results of ``items`` to ``document`` in their order and saves it to ``path``
    atomically, at most every ``save_interval_s`` and when :meth:`finish` is called.

    ``stamp``: the project file as loaded (None for a new file): a save made by someone else
    meanwhile is never overwritten (``ProjectChangedOnDisk``). ``on_image(item, labels,
    outcome)`` is told about each image applied (outcome None when it failed). ``keep_undo``:
    keep each image's step in the document's undo history (the GUI); without it (the command
    line) the history is dropped as the run goes, so memory stays flat over any number of images."""

    def __init__(
        self,
        document: Document,
        path: Path,
        stamp: FileStamp | None,
        items: Sequence[WorkItem],
        categories: dict[str, int | None],
        threshold: float | None,
        options: ApplyOptions,
        summary: RunSummary,
        save_interval_s: float = DEFAULT_SAVE_INTERVAL_S,
        on_image: Callable[[WorkItem, ImageLabels, ImageOutcome | None], None] | None = None,
        keep_undo: bool = False,
    ) -> None:
        self.document, self.path, self.stamp = document, path, stamp
        self.items = list(items)
        self.categories, self.threshold, self.options = categories, threshold, options
        self.summary = summary
        self.summary.to_do = len(self.items)
        self.save_interval_s = save_interval_s
        self.on_image = on_image
        self.keep_undo = keep_undo
        self._index = {item.media_id: item.index for item in self.items}
        self._waiting: dict[int, ImageLabels] = {}
        self._applied: set[int] = set()
        self._next = 0
        self._last_save = time.monotonic()
        self._unsaved = True

    @property
    def finished(self) -> bool:
        return len(self._applied) == len(self.items)

    def receive(self, labels: ImageLabels) -> None:
        """One image's result, in any order; applied once every earlier image's has been.
        Ctrl+C while it runs takes effect when it returns, so an image is applied whole."""
        with interrupts_deferred():
            self._receive(labels)

    def _receive(self, labels: ImageLabels) -> None:
        index = self._index.get(labels.media_id)
        if index is None or index in self._applied or index in self._waiting:
            self.summary.repeated += 1
            return
        self._waiting[index] = labels
        while self._next in self._waiting:
            self._apply(self.items[self._next], self._waiting.pop(self._next))
            self._next += 1
        if time.monotonic() - self._last_save >= self.save_interval_s:
            self.save()

    def finish(self) -> None:
        """Apply what arrived out of order (an interrupted run keeps every finished image), and
        save."""
        for index in sorted(self._waiting):
            self._apply(self.items[index], self._waiting.pop(index))
        self.save()

    def save(self) -> None:
        if not self._unsaved:
            return
        self.stamp = save_project(self.document.project, self.path, expected=self.stamp)
        self.document.mark_saved(self.path)
        self._last_save = time.monotonic()
        self._unsaved = False

    def _apply(self, item: WorkItem, labels: ImageLabels) -> None:
        self._applied.add(item.index)
        error = labels.error
        if error is None and labels.content_hash is not None and labels.content_hash != item.content_hash:
            error = "the worker read a different file at this path (its content hash differs)"
        if error is not None:
            self.summary.failed.append((item.path, error))
            if self.on_image is not None:
                self.on_image(item, labels, None)
            return
        command, outcome = image_change(self.document.project, labels, self.threshold, self.categories,
                                        self.options)
        self.document.execute(command)
        if not self.keep_undo:  # a headless run has no undo; each step would hold a record copy
            self.document.history.clear(clean=False)
        self._unsaved = True
        self.summary.labelled += 1
        self.summary.seconds.append(labels.seconds)
        for task in outcome.found:
            counts = self.summary.per_category.setdefault(self._category_name(task), CategoryCounts())
            counts.found += outcome.found[task]
            counts.added += outcome.added[task]
            counts.pending += outcome.pending[task]
            counts.duplicates += outcome.duplicates[task]
        if self.on_image is not None:
            self.on_image(item, labels, outcome)

    def _category_name(self, task: str) -> str:
        category_id = self.categories.get(task)
        category = None if category_id is None else self.document.project.categories.get(category_id)
        return category.name if category is not None else "(no category)"
