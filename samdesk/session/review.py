"""Reviewing proposed instances (``controller.pending_instances``): what the user's keys and
clicks do to them, and the one undoable step that accepts them. Qt-free.

- Accept all (Enter): the shown instances that are not duplicates become objects and the review
  ends. Accept above the threshold, or accept the selected one: those become objects and the
  review goes on with the rest (lower the threshold to see more). Each accept is one undo step
  (:func:`accept_step`: new categories, ``AddObjects``, the image's status, and for results of a
  batch run the project's record of them); undoing it brings its instances back while the review
  is open.
- A left click on an instance selects it; a left click on the selected one refines it (a point
  with its box, answered by a click model); a right (or Shift) click rejects an instance, or,
  once the selected one is being refined, adds a negative point. Delete rejects the selected one.
- Duplicates of objects on the image are never accepted unless allowed one by one.

Results a batch run kept for review in the project (``samdesk.labelling.store``) are shown the
same way when their image is on screen (:meth:`Review.show_stored`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from model_runtime.api import CandidateMasks, Instances, Prompts
from samdesk.document import (
    AddCategory,
    AddObjects,
    Batch,
    Command,
    DocumentEvent,
    EditMedia,
    MediaStatus,
    NewObject,
    Project,
    SetSetting,
)
from samdesk.document import masks as rle
from samdesk.labelling.request import TEXT_PREFIX
from samdesk.labelling.store import LABELLING_KEY, LabellingRecord, PendingResult
from samdesk.session.instances import Crop, InstanceGroup, Key, PendingInstances
from samdesk.session.requests import PredictRequest

if TYPE_CHECKING:
    from samdesk.session.controller import AnnotationController

Category = int | str | None  # an id, a name (made if the project has none), or none


class Refiner(Protocol):
    """Refines one instance with clicks: ``refine(request) -> request id``; the answer comes
    back through :meth:`Review.refine_ready` (or :meth:`Review.refine_failed`)."""

    def refine(self, request: PredictRequest) -> int: ...


@dataclass
class Accepted:
    """What an accept did: the keys accepted and the objects made of them, in order."""

    keys: list[Key]
    object_ids: list[int]


def accept_step(
    project: Project, proposal: PendingInstances, keys: Sequence[Key] | None, category: Category = None,
    close: bool = True,
) -> tuple[Command, AddObjects, list[Key]] | None:
    """The undoable step that turns ``keys`` (default: the shown ones) into objects, skipping
    duplicates and empty masks; None when none is left. Each group's instances go to its
    category; a group without one to the category named like its phrase (made in the same
    step when the project has none), else to ``category``. ``close``: the review ends with it
    (for batch results: the image's results are settled), else the rest stays for review."""
    chosen = proposal.acceptable(keys)
    if not chosen:
        return None
    commands: list[Command] = []
    made: dict[str, int] = {}

    def by_name(name: str) -> int:
        from samdesk.io.common import import_color  # the batch run's colours; reads media: not at start-up

        existing = project.category_by_name(name)
        if existing is not None:
            return existing.id
        if name not in made:
            command = AddCategory(name, import_color(len(project.categories) + len(made)),
                                  category_id=project.allocate_id("category"))
            commands.append(command)
            made[name] = command.category_id  # type: ignore[assignment]
        return made[name]

    categories: dict[int, int | None] = {}
    for group_index in sorted({key[0] for key in chosen}):
        group = proposal.groups[group_index]
        category_id = group.category_id if _exists(project, group.category_id) else None
        if category_id is None and group.label:
            category_id = by_name(group.label)
        elif category_id is None and isinstance(category, str) and category.strip():
            category_id = by_name(category.strip())
        elif category_id is None and isinstance(category, int) and _exists(project, category):
            category_id = category
        categories[group_index] = category_id
    size = proposal.image_size
    items = []
    for key in chosen:
        crop = proposal.crop(key)
        assert crop is not None
        items.append(NewObject(
            proposal.media_id, rle.encode_box(*crop, size), categories[key[0]], proposal.score(key),
            proposal.prompts_of(key).without_mask_input(), model_id=proposal.model_id, frame=proposal.frame,
        ))
    add = AddObjects(items, text=f"accept {len(items)} objects")
    commands.append(add)
    media = project.media_item(proposal.media_id)
    if media.status == MediaStatus.NEW:
        commands.append(EditMedia(media.id, status=MediaStatus.IN_PROGRESS))
    if proposal.stored:
        settled = proposal.done | proposal.rejected | set(chosen)
        left = [] if close else [k for k in proposal.all_keys() if k not in settled]
        commands.append(SetSetting(LABELLING_KEY, stored_after(project, proposal, left)))
    return Batch(commands, text=f"accept {len(items)} objects"), add, chosen


def _same_crops(a: Sequence[Crop], b: Sequence[Crop]) -> bool:
    pairs = zip(a, b, strict=False)
    return len(a) == len(b) and all(oa == ob and np.array_equal(ma, mb) for (ma, oa), (mb, ob) in pairs)


def _exists(project: Project, category_id: int | None) -> bool:
    return category_id is not None and project.categories.get(category_id) is not None


def stored_after(project: Project, proposal: PendingInstances, left: Sequence[Key]) -> dict:
    """The labelling record with ``left`` as the image's results still waiting for review."""
    record = LabellingRecord.of(project)
    value = record.without_pending(proposal.media_id)
    if left:
        results = [stored_result(proposal, key) for key in left]
        value = LabellingRecord(value["done"], value["pending"]).with_image(proposal.media_id, {}, results)
    return value


def stored_result(proposal: PendingInstances, key: Key) -> PendingResult:
    group = proposal.groups[key[0]]
    crop = proposal.crop(key)
    mask_rle = rle.encode_box(*crop, proposal.image_size) if crop is not None else rle.encode(
        np.zeros(proposal.image_size, bool))
    return PendingResult(group.task, group.category_id, proposal.score(key), proposal.box(key), mask_rle,
                         proposal.model_id)


def stored_groups(results: Sequence[PendingResult], image_size: tuple[int, int]) -> list[InstanceGroup]:
    """Batch results kept for review, one group per task (masks decoded when first shown)."""
    by_task: dict[str, list[PendingResult]] = {}
    for result in results:
        by_task.setdefault(result.task, []).append(result)
    height, width = image_size
    groups = []
    for task, found in by_task.items():
        masks = CandidateMasks((len(found), height, width), lambda i, f=found: rle.decode(f[i].rle))
        pool = Instances(masks, np.array([r.box for r in found], np.float32).reshape(-1, 4),
                         np.array([r.score for r in found], np.float32))
        label = task[len(TEXT_PREFIX):] if task.startswith(TEXT_PREFIX) else ""
        groups.append(InstanceGroup(pool, label, task, found[0].category_id))
    return groups


class Review:
    """The review of ``controller.pending_instances``; hooks itself into the controller's
    clicks (``controller.instance_click``) and follows the document (duplicates, undo)."""

    def __init__(self, controller: AnnotationController) -> None:
        self.controller = controller
        self.document = controller.document
        self.refiner: Refiner | None = None
        self.refine_error: str | None = None
        self._refining: tuple[int, Key, Prompts] | None = None  # request id, instance, its clicks
        self._accepting = False
        self.changed: list[Callable[[], None]] = controller.pending_instances_changed
        controller.instance_click = self.click
        self._unsubscribe = self.document.events.subscribe_batch(self._on_events)

    def close(self) -> None:
        self._unsubscribe()

    @property
    def proposal(self) -> PendingInstances | None:
        return self.controller.pending_instances

    # --- proposing -------------------------------------------------------------------------------

    def propose(self, groups: Sequence[InstanceGroup], model_id: str | None, prompts: Prompts,
                threshold: float | None, stored: bool = False, min_area: int = 0) -> PendingInstances | None:
        """Show ``groups`` (found on the image on screen) for review."""
        proposal = self.make(groups, model_id, prompts, threshold, stored, min_area)
        if proposal is not None:
            self.show(proposal)
        return proposal

    def make(self, groups: Sequence[InstanceGroup], model_id: str | None, prompts: Prompts,
             threshold: float | None, stored: bool = False, min_area: int = 0) -> PendingInstances | None:
        """A proposal of ``groups`` on the image on screen, not shown yet (its crops and
        outlines may be made elsewhere first: ``PendingInstances.prepare``)."""
        controller = self.controller
        if controller.media_id is None:
            return None
        return PendingInstances(list(groups), controller.media_id, controller.frame, model_id, prompts,
                                threshold, self.existing_crops(), stored=stored, min_area=min_area)

    def show(self, proposal: PendingInstances) -> bool:
        """Show ``proposal`` if its image is still on screen."""
        controller = self.controller
        if (proposal.media_id, proposal.frame) != (controller.media_id, controller.frame):
            return False
        existing = self.existing_crops()
        if not _same_crops(existing, proposal.existing):  # objects changed meanwhile
            proposal.set_existing(existing)
        self._refining = None
        controller.set_pending_instances(proposal)
        return True

    def update_group(self, index: int, pool: Instances) -> None:
        """A newer answer for one group (a streamed preview), keeping what the user did."""
        if self.proposal is not None and index < len(self.proposal.groups):
            self.proposal.replace_group(index, pool)
            self._emit()

    def show_stored(self) -> bool:
        """Show the results a batch run kept for review on the image on screen, if any.
        Raises ``LabellingRecordError`` for a malformed record (the caller says so)."""
        media = self.controller.media
        if media is None or self.controller.has_pending():
            return False
        waiting = LabellingRecord.of(self.document.project).pending(media.id)
        if not waiting:
            return False
        groups = stored_groups(waiting, (media.height, media.width))
        model_ids = {r.model_id for r in waiting}
        self.propose(groups, model_ids.pop() if len(model_ids) == 1 else None, Prompts(), None, stored=True)
        return True

    def dismiss_stored(self) -> None:
        """Drop the batch results of the image on screen from the project (one undo step)."""
        proposal = self.proposal
        if proposal is None or not proposal.stored:
            return
        value = LabellingRecord.of(self.document.project).without_pending(proposal.media_id)
        self.controller.set_pending_instances(None)
        self.document.execute(SetSetting(LABELLING_KEY, value, text="drop results for review"))

    def existing_crops(self) -> list[Crop]:
        """The objects of the image and frame on screen, as crops (what duplicates are of)."""
        controller = self.controller
        if controller.media_id is None:
            return []
        crops = []
        for obj in self.document.project.objects_of(controller.media_id):
            annotation = obj.frames.get(controller.frame)
            crop = None if annotation is None else rle.decode_box(annotation.rle)
            if crop is not None:
                crops.append(crop)
        return crops

    # --- filtering -------------------------------------------------------------------------------

    def set_threshold(self, threshold: float) -> None:
        """Show the instances above ``threshold`` (no model call: the pool is re-filtered)."""
        if self.proposal is not None and self.proposal.threshold != threshold:
            self.proposal.threshold = float(threshold)
            self._emit()

    def set_min_area(self, pixels: int) -> None:
        if self.proposal is not None and self.proposal.min_area != pixels:
            self.proposal.min_area = max(0, int(pixels))
            self._emit()

    # --- clicks and keys --------------------------------------------------------------------------

    def click(self, x: float, y: float, positive: bool) -> bool:
        """A click on the canvas while instances are proposed; False when it hit none (the
        click then starts a new object as usual)."""
        proposal = self.proposal
        if proposal is None:
            return False
        key = proposal.key_at(x, y)
        selected = proposal.selected
        refining = self._refining is not None and selected is not None and self._refining[1] == selected
        if positive and key is not None and key != selected:
            self.select(key)
        elif selected is not None and (key == selected or (refining and key is None)):
            self._refine(selected, x, y, positive)  # the selected one: refine (once begun, also around it)
        elif not positive and key is not None:
            proposal.reject(key)
            self._emit()
        else:
            return False
        return True

    def select(self, key: Key | None) -> None:
        if self.proposal is not None and self.proposal.selected != key:
            self.proposal.selected = key
            self._refining = None
            self._emit()

    def reject_selected(self) -> bool:
        proposal = self.proposal
        if proposal is None or proposal.selected is None:
            return False
        proposal.reject(proposal.selected)
        self._refining = None
        self._emit()
        return True

    def allow_selected(self) -> bool:
        """Let the selected duplicate through."""
        proposal = self.proposal
        if proposal is None or proposal.selected is None or not proposal.overlaps_existing(proposal.selected):
            return False
        proposal.allow(proposal.selected)
        self._emit()
        return True

    # --- accepting -------------------------------------------------------------------------------

    def accept(self, keys: Sequence[Key] | None = None, category: Category = None, close: bool = True
               ) -> Accepted:
        """Accept ``keys`` (default: every shown one) in one undo step; ``close`` ends the review."""
        proposal = self.proposal
        if proposal is None:
            return Accepted([], [])
        step = accept_step(self.document.project, proposal, keys, category, close)
        accepted = Accepted([], [])
        if step is not None:
            command, add, chosen = step
            self._accepting = True
            try:
                self.document.execute(command)
            finally:
                self._accepting = False
            accepted = Accepted(chosen, add.object_ids)
            proposal.mark_accepted(chosen, add.object_ids)
            first = next((o for o in add.items if o.category_id is not None), None)
            if first is not None:
                self.controller.current_category = first.category_id
        if close:
            self.controller.set_pending_instances(None)
        else:
            proposal.set_existing(self.existing_crops())
            self._emit()
        return accepted

    def accept_all(self, category: Category = None) -> Accepted:
        return self.accept(None, category, close=True)

    def accept_above(self, category: Category = None) -> Accepted:
        """The shown instances (all above the threshold), keeping the review open for the rest."""
        return self.accept(None, category, close=False)

    def accept_selected(self, category: Category = None) -> Accepted:
        proposal = self.proposal
        if proposal is None or proposal.selected is None:
            return Accepted([], [])
        return self.accept([proposal.selected], category, close=False)

    def needs_category(self) -> bool:
        """Whether accepting now needs a category chosen: some shown instance belongs to a
        group with neither a category nor a phrase."""
        proposal = self.proposal
        if proposal is None:
            return False
        groups = {key[0] for key in proposal.shown()}
        return any(not proposal.groups[g].label and proposal.groups[g].category_id is None for g in groups)

    # --- refining --------------------------------------------------------------------------------

    def _refine(self, key: Key, x: float, y: float, positive: bool) -> None:
        proposal, media = self.proposal, self.controller.media
        assert proposal is not None
        if self.refiner is None or media is None:
            self.refine_error = "No click model to refine with: load one in the Model menu."
            self._emit()
            return
        before = self._refining[2] if self._refining is not None and self._refining[1] == key else None
        points = (*(before.points if before else ()), (x, y))
        labels = (*(before.labels if before else ()), 1 if positive else 0)
        prompts = Prompts(points=points, labels=labels, box=proposal.box(key))
        try:
            request_id = self.refiner.refine(PredictRequest(media, proposal.frame, prompts, multimask=False))
        except Exception as exc:  # no model answers clicks now: say so, keep the proposal
            self.refine_error = str(exc) or type(exc).__name__
            self._emit()
            return
        self._refining = (request_id, key, prompts)
        self.refine_error = None

    def refine_ready(self, request_id: int, masks: CandidateMasks | np.ndarray, scores: np.ndarray) -> None:
        """The answer to a refinement: the instance's new mask (the best of ``masks``)."""
        proposal, refining = self.proposal, self._refining
        if proposal is None or refining is None or refining[0] != request_id:
            return
        _, key, prompts = refining
        scores = np.asarray(scores, np.float32).reshape(-1)
        best = int(np.argmax(scores)) if len(scores) else 0
        score = float(scores[best]) if len(scores) else 1.0
        proposal.refine(key, np.asarray(masks[best], bool), score, prompts)
        self._emit()

    def refine_failed(self, request_id: int, message: str) -> None:
        if self._refining is not None and self._refining[0] == request_id:
            self.refine_error = message
            self._emit()

    # --- plumbing --------------------------------------------------------------------------------

    def _on_events(self, events: Sequence[DocumentEvent]) -> None:
        proposal = self.proposal
        if proposal is None or self._accepting:
            return
        if not any(e.object_id is not None or e.media_id == proposal.media_id for e in events):
            return
        alive = {o.id for o in self.document.project.objects_of(proposal.media_id)}
        proposal.follow_objects(alive)
        proposal.set_existing(self.existing_crops())
        self._emit()

    def _emit(self) -> None:
        for listener in list(self.changed):
            listener()
