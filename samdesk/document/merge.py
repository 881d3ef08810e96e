"""Merging objects: one undoable step that unions several objects into the first."""

from __future__ import annotations

from samdesk.document import masks
from samdesk.document.commands import Batch, Command, RemoveObject, SetAbsence, SetFrame
from samdesk.document.model import FrameAnnotation, Project, Provenance


def merge_objects(project: Project, object_ids: list[int], text: str = "merge objects") -> Batch:
    """One undoable step that merges objects into the first of ``object_ids``.

    Each frame keeps its provenance. A frame only one of the objects had is carried over as it
    was (mask, provenance, score, prompts, model): a tracked frame stays tracked and a keyframe
    stays a keyframe, so merging never changes what the next tracking run starts from. On a
    frame several objects had, the kept object's mask becomes the union, with no score (no model
    estimated it) and the kept object's prompts and model. The union is ``PROPAGATED`` when
    every mask there was the tracker's (it is still tracker output, and the next run may replace
    it), and ``EDITED`` otherwise: a user's mask is inside it, which a tracking run must never
    overwrite. The other objects are removed; the kept object keeps its id, category, name and
    place in the drawing order. All objects must be on one media.

    Absences (frames where tracking found an object gone) follow the masks: the kept object is
    absent on a frame only when no merged object has a mask there, so two tracks of one thing
    (one lost where the other goes on) become one track without gaps.
    """
    if len(object_ids) < 2 or len(set(object_ids)) != len(object_ids):
        raise ValueError(f"merging needs at least two distinct objects, got {object_ids}")
    objects = [project.object(i) for i in object_ids]
    keep, others = objects[0], objects[1:]
    if any(o.media_id != keep.media_id for o in others):
        raise ValueError("objects on different media cannot be merged")
    commands: list[Command] = []
    for frame in sorted({f for o in objects for f in o.frames}):
        present = [o.frames[frame] for o in objects if frame in o.frames]
        if len(present) == 1:
            if frame not in keep.frames:
                commands.append(SetFrame(keep.id, frame, present[0]))
            continue
        union = masks.decode(present[0].rle)
        for annotation in present[1:]:
            union |= masks.decode(annotation.rle)
        tracked = all(a.provenance is Provenance.PROPAGATED for a in present)
        base = keep.frames.get(frame, present[0])
        merged = FrameAnnotation(
            rle=masks.encode(union),
            provenance=Provenance.PROPAGATED if tracked else Provenance.EDITED,
            score=None,
            prompts=base.prompts,
            model_id=base.model_id,
        )
        commands.append(SetFrame(keep.id, frame, merged))
    masked = {f for o in objects for f in o.frames}
    for frame in sorted({f for o in objects for f in o.absent}):
        if frame in masked:
            if frame in keep.absent:
                commands.append(SetAbsence(keep.id, frame, None, text=text))
        elif frame not in keep.absent:
            absence = next(o.absent[frame] for o in others if frame in o.absent)
            commands.append(SetAbsence(keep.id, frame, absence, text=text))
    commands += [RemoveObject(o.id) for o in others]
    return Batch(commands, text=text)
