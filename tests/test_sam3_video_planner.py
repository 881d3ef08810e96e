"""SAM 3 video's planner rules, each against the official function it follows, on small random
masks (seconds; the end-to-end parity is tests/test_sam3_video_parity.py).

The official rules are methods of ``Sam3VideoBase`` / ``Sam3TrackerPredictor`` reading a few
settings from ``self``: they are called on a namespace holding those settings (or on an
instance made without ``__init__`` where they call ``super()``).
"""

from __future__ import annotations

import functools
import types

import numpy as np
import pytest
import torch

from model_runtime.models.sam3 import planner
from model_runtime.models.sam3.planner import PlannerConfig
from model_runtime.models.sam3.video_history import FETCH, FULL, PARTIAL, Action, next_propagation

pytestmark = pytest.mark.oracle

SIDE = 48


@pytest.fixture(scope="module")
def official() -> types.SimpleNamespace:
    from tests.oracles.sam3_official import import_official

    import_official()
    from sam3.model.sam3_tracker_utils import fill_holes_in_mask_scores
    from sam3.model.sam3_tracking_predictor import Sam3TrackerPredictor
    from sam3.model.sam3_video_base import Sam3VideoBase
    from sam3.perflib.nms import nms_masks

    return types.SimpleNamespace(
        base=Sam3VideoBase,
        tracker=Sam3TrackerPredictor.__new__(Sam3TrackerPredictor),
        fill_holes=fill_holes_in_mask_scores,
        nms=nms_masks,
    )


def blobs(count: int, seed: int, side: int = SIDE) -> torch.Tensor:
    """(count, side, side) logits: a few overlapping discs each, with specks and holes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    out = np.full((count, side, side), -2.0, np.float32)
    for i in range(count):
        for _ in range(rng.integers(1, 3)):
            cx, cy, r = rng.uniform(8, side - 8), rng.uniform(8, side - 8), rng.uniform(4, 12)
            out[i][(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(0.5, 4.0)
        noise = rng.uniform(size=(side, side)) < 0.02
        out[i][noise] = -out[i][noise]
    return torch.from_numpy(out)


def test_fill_holes_matches_official(official: types.SimpleNamespace) -> None:
    masks = blobs(6, seed=1)[:, None]
    for area in (4, 16):
        ours = planner.fill_holes(masks, area)
        theirs = official.fill_holes(masks.clone(), area)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_mask_nms_matches_official(official: types.SimpleNamespace) -> None:
    masks = torch.cat([blobs(8, seed=2), blobs(4, seed=2)[:, :, :] + 0.1])
    probs = torch.from_numpy(
        np.random.default_rng(3).uniform(0.2, 1.0, size=masks.shape[0]).astype(np.float32)
    )
    for iou in (0.1, 0.5):
        ours = planner.nms(probs, masks, 0.3, iou)
        assert torch.equal(ours, official.nms(probs, masks, 0.3, iou))


def test_association_matches_official(official: types.SimpleNamespace) -> None:
    config = PlannerConfig(new_det_thresh=0.6)
    settings = types.SimpleNamespace(
        assoc_iou_thresh=config.assoc_iou_thresh,
        trk_assoc_iou_thresh=config.trk_assoc_iou_thresh,
        new_det_thresh=config.new_det_thresh,
        o2o_matching_masklets_enable=False,
    )
    tracks = blobs(5, seed=4)
    tracks[2] = -5.0  # an empty track
    detections = torch.cat([tracks[:2] + 0.3, blobs(4, seed=5)])  # two match tracks closely
    scores = np.array([0.95, 0.7, 0.9, 0.65, 0.55, 0.85], np.float32)
    ids = np.array([3, 7, 8, 11, 12])
    for det, trk in ((detections, tracks), (detections[:0], tracks), (detections, tracks[:0])):
        found = planner.associate(det, scores[: det.shape[0]], trk, ids[: trk.shape[0]], config)
        new, unmatched, matches, confident, empty = official.base._associate_det_trk(
            settings, det, scores[: det.shape[0]], trk, ids[: trk.shape[0]]
        )
        np.testing.assert_array_equal(found.new_dets, new)
        np.testing.assert_array_equal(found.unmatched, unmatched)
        np.testing.assert_array_equal(found.empty, empty)
        assert found.confident == confident
        assert found.matches.keys() == matches.keys()
        for d in matches:
            np.testing.assert_array_equal(found.matches[d], matches[d])


def test_object_wise_non_overlap_matches_official(official: types.SimpleNamespace) -> None:
    masks = blobs(5, seed=6) > 0
    scores = torch.tensor([0.3, 0.9, 0.5, 0.9, 0.1])
    ours = planner.non_overlapping_by_score(masks, scores)
    theirs = (
        official.tracker._apply_object_wise_non_overlapping_constraints(
            masks[:, None], scores[:, None], background_value=0
        )[:, 0]
        > 0
    )
    assert torch.equal(ours, theirs)


def test_area_shrinkage_matches_official(official: types.SimpleNamespace) -> None:
    masks = blobs(5, seed=7)[:, None]
    masks[1] = masks[0] - 0.05  # mostly under object 0: shrinks away
    ours = planner.suppress_shrunk(masks)
    assert torch.equal(ours, official.tracker._suppress_object_pw_area_shrinkage(masks))
    assert (ours[1] <= planner.SUPPRESSED_LOGIT).all() and not torch.equal(ours, masks)


def test_recent_occlusion_suppression_matches_official(official: types.SimpleNamespace) -> None:
    base = official.base
    settings = types.SimpleNamespace(suppress_overlapping_based_on_recent_occlusion_threshold=0.7, rank=0)
    settings._get_objects_to_suppress_based_on_most_recently_occluded = functools.partial(
        base._get_objects_to_suppress_based_on_most_recently_occluded, settings
    )
    masks = blobs(5, seed=8)
    masks[1] = masks[0] + 0.01  # objects 0 and 1 overlap fully
    masks[3] = masks[2] + 0.01
    masks[4] = -3.0  # object 4 occluded now
    ids = [10, 11, 12, 13, 14]
    last = {10: 4, 11: 6, 12: -1, 13: 2}
    for reverse in (False, True):
        ours, ours_last = planner.suppress_recently_occluded(masks, ids, last, {13}, 9, reverse, 0.7)
        new_meta: dict = {}
        prev = {
            "obj_ids_all_gpu": ids,
            "obj_id_to_last_occluded": {o: torch.tensor([f]) for o, f in last.items()},
        }
        theirs = base._suppress_overlapping_based_on_recent_occlusion(
            settings, 9, masks.clone(), prev, new_meta, {13}, reverse
        )
        assert torch.equal(ours, theirs)
        assert (ours[:4] == planner.SUPPRESSED_LOGIT).all(dim=(1, 2)).any(), "nothing suppressed"
        assert ours_last == {o: int(t) for o, t in new_meta["obj_id_to_last_occluded"].items()}


def test_hotstart_matches_official(official: types.SimpleNamespace) -> None:
    """A scripted sequence of association results over 8 frames, both directions."""
    from collections import defaultdict

    config = PlannerConfig(hotstart_delay=4, hotstart_unmatch_thresh=2, hotstart_dup_thresh=2)
    settings = types.SimpleNamespace(
        hotstart_delay=4,
        hotstart_unmatch_thresh=2,
        hotstart_dup_thresh=2,
        init_trk_keep_alive=30,
        max_trk_keep_alive=30,
        min_trk_keep_alive=-1,
        suppress_unmatched_only_within_hotstart=True,
        decrease_trk_keep_alive_for_empty_masklets=False,
    )
    empty = np.array([], np.int64)
    script = [  # (new ids, det -> matched track ids, unmatched track ids)
        ([0, 1], {}, []),
        ([2], {0: [0, 1]}, [2]),
        ([], {0: [0, 1], 1: [2]}, []),
        ([3], {0: [0]}, [1, 2]),
        ([], {0: [0, 3]}, [2]),
        ([4], {0: [0, 3]}, [1]),
        ([], {}, [4]),
        ([], {0: [4]}, [4, 3]),
    ]
    for reverse in (False, True):
        ours = planner.Hotstart()
        meta = {
            "obj_first_frame_idx": {},
            "unmatched_frame_inds": defaultdict(list),
            "trk_keep_alive": defaultdict(int),
            "overlap_pair_to_frame_inds": defaultdict(list),
            "removed_obj_ids": set(),
            "suppressed_obj_ids": defaultdict(set),
        }
        for step, (new, matches, unmatched) in enumerate(script):
            frame = 20 - step if reverse else step
            matched = {d: np.array(t, np.int64) for d, t in matches.items()}
            found = planner.Association(empty, np.array(unmatched, np.int64), empty, matched, {})
            removed = ours.update(frame, reverse, np.array(new, np.int64), found, config)
            theirs, meta = official.base._process_hotstart(
                settings,
                frame,
                21,
                reverse,
                matched,
                np.array(new, np.int64),
                empty,
                np.array(unmatched, np.int64),
                meta,
                {},
            )
            assert removed == theirs, (reverse, frame)
        assert ours.removed == meta["removed_obj_ids"]
        assert ours.removed, "nothing removed: the script would prove little"


def test_propagation_kind_follows_the_history() -> None:
    assert next_propagation([], True, [], 10) == (FULL, None)
    assert next_propagation([], False, [1, 2], 10) == (PARTIAL, [1, 2])
    history = [Action(FULL, 0)]
    assert next_propagation(history, True, [0], 10) == (FETCH, None)  # from frame 0: done both ways
    history = [Action(FULL, 4)]
    assert next_propagation(history, True, [0], 10) == (FULL, None)  # the other direction still to do
    history = [Action(FULL, 0), Action("refine", 3, [2]), Action("add", 5, [9]), Action("remove", None, [1])]
    assert next_propagation(history, True, [0, 2, 9], 10) == (PARTIAL, [2, 9])
    history = [Action(FULL, 0), Action("remove", None, [1])]
    assert next_propagation(history, True, [0], 10) == (FETCH, None)
