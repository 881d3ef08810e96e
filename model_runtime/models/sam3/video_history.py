"""What a SAM 3 video propagation has to do, from what the user did since the last one (official
``parse_action_history_for_propagation``).

- ``propagation_full``: detector and tracker on every frame (after a phrase);
- ``propagation_partial``: re-track only the objects added or corrected by clicks since the last
  propagation; the others keep their stored outputs;
- ``propagation_fetch``: nothing changed: replay the stored outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

FULL, PARTIAL, FETCH = "propagation_full", "propagation_partial", "propagation_fetch"


@dataclass
class Action:
    """One entry of the history: kind "add", "refine", "remove" or a propagation kind; the frame
    (a prompt's, or a propagation's start; None when not given) and the objects concerned."""

    kind: str
    frame: int | None = None
    obj_ids: list[int] | None = None


def next_propagation(
    history: list[Action], has_phrase: bool, object_ids: list[int], num_frames: int
) -> tuple[str, list[int] | None]:
    """(kind, the objects a partial propagation re-tracks, or None)."""
    if not history:
        return (FULL, None) if has_phrase else (PARTIAL, object_ids)
    last = history[-1]
    if last.kind.startswith("propagation"):
        if last.kind == FETCH:
            return FETCH, None
        repeated = len(history) > 1 and history[-2].kind in (PARTIAL, FULL)
        if repeated or last.frame in (0, num_frames - 1):
            return FETCH, None
        return last.kind, last.obj_ids
    obj_ids: list[int] = []
    for action in reversed(history):
        if action.kind.startswith("propagation"):
            break
        if action.kind in ("add", "refine") and action.obj_ids:
            obj_ids.extend(action.obj_ids)
    if not obj_ids:
        return FETCH, None
    return PARTIAL, sorted(set(obj_ids))
