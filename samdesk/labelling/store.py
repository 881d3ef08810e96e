"""What batch labelling ran on each image, and its results waiting for review, in the project.

Both live in the project's settings under ``"labelling"`` (plain JSON, saved with the project;
docs/project-format.md describes the layout):

- ``done``: per media id, per task key ("text:car", "everything"), what was run (:class:`TaskRun`).
  A re-run skips the tasks an image has, so re-running a command resumes it.
- ``pending``: per media id, results a run kept for review instead of adding them as objects
  (:class:`PendingResult`): not objects yet, so no export, count or canvas sees them until the
  user accepts them (:func:`accept_pending`), like the GUI's proposed instances
  (``samdesk.session.instances.PendingInstances``), which they become when shown.

The record changes only through ``SetSetting`` commands with a new value (copied per media, the
old one never mutated), so it is undone with the objects of the same step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from model_runtime.api import Prompts
from samdesk.document import AddObjects, Batch, NewObject, Project, SetSetting
from samdesk.document import masks as rle_masks
from samdesk.document.json_fields import Invalid, as_dict, is_int, is_number, type_name
from samdesk.document.masks import Rle
from samdesk.labelling.request import EVERYTHING_KEY, TEXT_PREFIX

LABELLING_KEY = "labelling"
_WHERE = f"settings.{LABELLING_KEY}"


class LabellingRecordError(ValueError):
    """The project's labelling record is malformed (a hand-edited file); names the location."""


@dataclass(frozen=True)
class TaskRun:
    """One task run on one image: the model, the threshold (None: the model's own), whether
    results were kept for review, and the counts: instances ``found``, ``added`` as objects,
    kept ``pending``, and ``duplicates`` of existing objects skipped."""

    model_id: str
    threshold: float | None
    review: bool
    found: int
    added: int
    pending: int
    duplicates: int


@dataclass(frozen=True)
class PendingResult:
    """One result waiting for review on a media: the task that found it, the category it goes
    to, the model's score, box and id, and the mask (compressed RLE of the media's size)."""

    task: str
    category_id: int | None
    score: float
    box: tuple[float, float, float, float]
    rle: Rle
    model_id: str | None

    @property
    def prompts(self) -> Prompts:
        """What asked for it: the task's phrase (segment everything: no prompt)."""
        if self.task.startswith(TEXT_PREFIX):
            return Prompts(text=self.task[len(TEXT_PREFIX) :])
        return Prompts()

    def new_object(self, media_id: int) -> NewObject:
        return NewObject(media_id, self.rle, self.category_id, self.score, self.prompts,
                         model_id=self.model_id)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["box"] = list(self.box)
        data["rle"] = {"size": list(self.rle["size"]), "counts": self.rle["counts"]}
        return data


class LabellingRecord:
    """A read-only, validated view of ``settings["labelling"]``; ``with_*`` return new values
    for a ``SetSetting``."""

    def __init__(self, done: dict[str, dict[str, Any]], pending: dict[str, list[Any]]) -> None:
        self._done = done
        self._pending = pending

    @classmethod
    def of(cls, project: Project) -> LabellingRecord:
        """The project's record (empty when it has none). Raises :class:`LabellingRecordError`."""
        try:
            return cls._parse(project.settings.get(LABELLING_KEY, {}))
        except Invalid as exc:
            raise LabellingRecordError(str(exc)) from exc

    @classmethod
    def _parse(cls, value: object) -> LabellingRecord:
        top = as_dict(value, _WHERE, "the labelling record")
        done = as_dict(top.get("done", {}), f"{_WHERE}.done", "done")
        for media, tasks in done.items():
            where = f"{_WHERE}.done.{media}"
            _media_key(media, where)
            for task, run in as_dict(tasks, where, "the tasks of an image").items():
                _task_run(run, f"{where}.{task}")
        pending = as_dict(top.get("pending", {}), f"{_WHERE}.pending", "pending")
        for media, items in pending.items():
            where = f"{_WHERE}.pending.{media}"
            _media_key(media, where)
            if not isinstance(items, list):
                raise Invalid(where, f"must be a list, found {type_name(items)}")
            for index, item in enumerate(items):
                _pending(item, f"{where}[{index}]")
        return cls(done, pending)

    def done_tasks(self, media_id: int) -> dict[str, TaskRun]:
        return {task: _task_run(run, "") for task, run in self._done.get(str(media_id), {}).items()}

    def pending(self, media_id: int) -> list[PendingResult]:
        return [_pending(item, "") for item in self._pending.get(str(media_id), [])]

    def media_with_pending(self) -> list[int]:
        """Media ids with results waiting for review (the media list marks them)."""
        return [int(media) for media, items in self._pending.items() if items]

    def to_json(self) -> dict[str, Any]:
        return {"done": self._done, "pending": self._pending}

    def with_image(
        self, media_id: int, runs: dict[str, TaskRun], pending: list[PendingResult]
    ) -> dict[str, Any]:
        """The record after ``runs`` on ``media_id`` (replacing earlier runs of those tasks),
        with ``pending`` added to the image's results waiting for review."""
        key = str(media_id)
        done = dict(self._done)
        done[key] = {**done.get(key, {}), **{task: asdict(run) for task, run in runs.items()}}
        waiting = dict(self._pending)
        if pending:
            waiting[key] = [*waiting.get(key, []), *(p.to_json() for p in pending)]
        return {"done": done, "pending": waiting}

    def without_pending(self, media_id: int) -> dict[str, Any]:
        waiting = dict(self._pending)
        waiting.pop(str(media_id), None)
        return {"done": self._done, "pending": waiting}


def accept_pending(project: Project, media_id: int) -> Batch | None:
    """One undoable step that adds every result waiting for review on ``media_id`` as objects
    and clears them from the record; None when there are none. A result whose category was
    deleted meanwhile is added without a category."""
    record = LabellingRecord.of(project)
    waiting = record.pending(media_id)
    if not waiting:
        return None
    items = []
    for result in waiting:
        item = result.new_object(media_id)
        if item.category_id is not None and project.categories.get(item.category_id) is None:
            item = NewObject(media_id, item.rle, None, item.score, item.prompts, model_id=item.model_id)
        items.append(item)
    return Batch(
        [AddObjects(items), SetSetting(LABELLING_KEY, record.without_pending(media_id))],
        text=f"accept {len(items)} labelled objects",
    )


# --- validation --------------------------------------------------------------------------------


def _media_key(key: str, where: str) -> None:
    if not key.isdigit():
        raise Invalid(where, "must be keyed by a media id")


def _task_run(value: object, where: str) -> TaskRun:
    d = as_dict(value, where, "a task run")
    model_id = d.get("model_id")
    if not isinstance(model_id, str):
        raise Invalid(f"{where}.model_id", "must be a string")
    threshold = d.get("threshold")
    if threshold is not None and not is_number(threshold):
        raise Invalid(f"{where}.threshold", "must be a number or null")
    counts = {}
    for name in ("found", "added", "pending", "duplicates"):
        count = d.get(name, 0)
        if not is_int(count) or count < 0:
            raise Invalid(f"{where}.{name}", "must be a count (an integer >= 0)")
        counts[name] = count
    return TaskRun(model_id, threshold, bool(d.get("review", False)), **counts)


def _pending(value: object, where: str) -> PendingResult:
    d = as_dict(value, where, "a pending result")
    task = d.get("task")
    if not isinstance(task, str) or not (task.startswith(TEXT_PREFIX) or task == EVERYTHING_KEY):
        raise Invalid(f"{where}.task", f"must be '{TEXT_PREFIX}<phrase>' or '{EVERYTHING_KEY}'")
    category_id = d.get("category_id")
    if category_id is not None and not is_int(category_id):
        raise Invalid(f"{where}.category_id", "must be an integer or null")
    score = d.get("score")
    if not is_number(score):
        raise Invalid(f"{where}.score", "must be a finite number")
    box = d.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(is_number(v) for v in box)):
        raise Invalid(f"{where}.box", "must be [x0, y0, x1, y1]")
    rle = d.get("rle")
    if not rle_masks.is_valid(rle):
        raise Invalid(f"{where}.rle", "is not a valid compressed RLE mask")
    model_id = d.get("model_id")
    if model_id is not None and not isinstance(model_id, str):
        raise Invalid(f"{where}.model_id", "must be a string or null")
    assert isinstance(rle, dict)
    x0, y0, x1, y1 = (float(v) for v in box)
    return PendingResult(task, category_id, float(score), (x0, y0, x1, y1),  # type: ignore[arg-type]
                         {"size": list(rle["size"]), "counts": rle["counts"]}, model_id)
