"""SAM 3 video sessions against the official ``Sam3VideoPredictor`` on random weights and the
first frames of a real video: a phrase on frame 0, forward propagation, a click correction of one
instance, and propagation again (default suite: 3 frames, the click on frame 1; slow: the
issue's 6 propagated frames with the click on frame 3, and the released sizes).

One random checkpoint in the ``sam3.pt`` layout (tests/oracles/sam3_official.py; detector scores
spread across 0.5) is loaded by ``load_model`` and by the official video model
(tests/oracles/sam3_video.py). Both read the same JPEG folder. The planner's thresholds are
lowered (random weights score every query low), hot start is off (see ``SETTINGS``) and
re-prompting comes every 2 frames. Per frame: the same object ids, mask IoU ≥ 0.999, scores
within 1e-4.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from model_runtime.api import Prompts
from model_runtime.models.sam3.planner import PlannerConfig
from model_runtime.models.sam3.video import ConceptVideoConfig
from tests.oracles.sam3_video import VideoSettings

pytestmark = pytest.mark.oracle


@dataclass(frozen=True)
class Clip:
    """How many frames of the video, and where the click correction goes."""

    num_frames: int
    corrected_frame: int


# The official video model takes ~40 s a frame at reduced width on this shared 2-core CPU (ours
# ~8): the default suite runs a short clip, ``make test-slow`` the 6 propagated frames.
SHORT = Clip(num_frames=3, corrected_frame=1)
LONG = Clip(num_frames=7, corrected_frame=3)
FRAME_SIZE = (480, 270)  # (W, H): the video downscaled; both sides read the same files
PHRASE = "person"
CLICK = (0.35, 0.55)  # a positive click, as a fraction of the frame (x, y)

# Random weights: the tracker's masks seldom overlap the detector's, so hot start would retire
# every instance; without it instances persist and new ones start on later frames.
SETTINGS = VideoSettings(
    score_threshold_detection=0.95,
    new_det_thresh=0.95,
    hotstart_delay=0,
    hotstart_unmatch_thresh=0,
    hotstart_dup_thresh=0,
    recondition_every_nth_frame=2,
)


def planner_config(settings: VideoSettings) -> ConceptVideoConfig:
    return ConceptVideoConfig(
        planner=PlannerConfig(
            score_threshold_detection=settings.score_threshold_detection,
            det_nms_thresh=settings.det_nms_thresh,
            assoc_iou_thresh=settings.assoc_iou_thresh,
            new_det_thresh=settings.new_det_thresh,
            hotstart_delay=settings.hotstart_delay,
            hotstart_unmatch_thresh=settings.hotstart_unmatch_thresh,
            hotstart_dup_thresh=settings.hotstart_dup_thresh,
            occlusion_overlap_thresh=settings.suppress_overlapping_based_on_recent_occlusion_threshold,
            fill_hole_area=settings.fill_hole_area,
            recondition_every_nth_frame=settings.recondition_every_nth_frame,
            refinement_window=settings.refinement_detector_cond_frame_removal_window,
        )
    )


@dataclass
class Frame:
    """One frame's shown objects: ids (sorted), masks bool (H, W) and scores by id."""

    masks: dict[int, np.ndarray]
    scores: dict[int, float]


def write_frames(media_dir: Path, out: Path, count: int, size: tuple[int, int]) -> Path:
    import av
    from PIL import Image

    with av.open(str(media_dir / "bedroom.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == count:
                break
            small = frame.to_image().resize(size, Image.Resampling.BILINEAR)
            small.save(out / f"{i:05d}.jpg", quality=95)
    return out


@pytest.fixture(scope="module")
def frames_dir(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The long clip's frames; the short clip reads the first of them."""
    return write_frames(media_dir, tmp_path_factory.mktemp("bedroom_frames"), LONG.num_frames, FRAME_SIZE)


def clip_dir(frames_dir: Path, clip: Clip, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if clip.num_frames == LONG.num_frames:
        return frames_dir
    out = tmp_path_factory.mktemp(f"frames_{clip.num_frames}")
    for path in sorted(frames_dir.iterdir())[: clip.num_frames]:
        (out / path.name).write_bytes(path.read_bytes())
    return out


def _official_frame(outputs: dict) -> Frame:
    ids = [int(o) for o in outputs["out_obj_ids"]]
    masks = {o: outputs["out_binary_masks"][i] for i, o in enumerate(ids)}
    scores = {o: float(outputs["out_probs"][i]) for i, o in enumerate(ids)}
    return Frame(masks, scores)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _compare(where: str, ours: Frame, official: Frame, scores: bool = True) -> None:
    assert sorted(ours.masks) == sorted(official.masks), (where, sorted(ours.masks), sorted(official.masks))
    for obj_id, expected in official.masks.items():
        got = ours.masks[obj_id]
        assert got.shape == expected.shape, where
        iou = _iou(got, expected)
        assert iou >= 0.999, f"{where} object {obj_id}: IoU {iou}"
        if scores:
            assert abs(ours.scores[obj_id] - official.scores[obj_id]) <= 1e-4, (
                f"{where} object {obj_id}: score {ours.scores[obj_id]} vs {official.scores[obj_id]}"
            )


def _compare_pass(name: str, ours: dict[int, Frame], official: dict[int, Frame]) -> None:
    assert list(ours) == list(official), name
    for frame in official:
        _compare(f"{name} frame {frame}", ours[frame], official[frame])


@dataclass
class Runs:
    """Each side's answers: the phrase's frame, the first pass, the click's frame, the second pass."""

    concept: tuple[Frame, Frame]
    first: tuple[dict[int, Frame], dict[int, Frame]]
    click: tuple[Frame, Frame]
    second: tuple[dict[int, Frame], dict[int, Frame]]
    corrected_id: int
    lost_and_new: list[tuple[int, list[int], list[int]]]


def run_both(checkpoint: Path, frames_dir: Path, spec: Any, settings: VideoSettings, clip: Clip) -> Runs:
    from model_runtime import load_model
    from tests.oracles import sam3_video

    official_model = sam3_video.load_official_video(checkpoint, spec, settings)
    predictor = sam3_video.predictor(official_model)
    with sam3_video.cpu_video_patches(official_model), torch.inference_mode():
        session_id = predictor.handle_request({"type": "start_session", "resource_path": str(frames_dir)})[
            "session_id"
        ]
        added = predictor.handle_request(
            {"type": "add_prompt", "session_id": session_id, "frame_index": 0, "text": PHRASE}
        )
        official_concept = _official_frame(added["outputs"])
        official_first = {
            r["frame_index"]: _official_frame(r["outputs"])
            for r in predictor.handle_stream_request(
                {
                    "type": "propagate_in_video",
                    "session_id": session_id,
                    "propagation_direction": "forward",
                    "start_frame_index": 0,
                    "max_frame_num_to_track": clip.num_frames,
                }
            )
        }
        shown = sorted(official_first[clip.corrected_frame].masks)
        assert shown, "no instance on the corrected frame: the test would prove nothing"
        corrected = shown[0]
        clicked = predictor.handle_request(
            {
                "type": "add_prompt",
                "session_id": session_id,
                "frame_index": clip.corrected_frame,
                "points": [list(CLICK)],
                "point_labels": [1],
                "obj_id": corrected,
            }
        )
        official_click = _official_frame(clicked["outputs"])
        official_second = {
            r["frame_index"]: _official_frame(r["outputs"])
            for r in predictor.handle_stream_request(
                {
                    "type": "propagate_in_video",
                    "session_id": session_id,
                    "propagation_direction": "forward",
                    "start_frame_index": None,
                    "max_frame_num_to_track": clip.num_frames,
                }
            )
        }
        predictor.handle_request({"type": "close_session", "session_id": session_id})
    del predictor, official_model
    gc.collect()

    model = load_model(checkpoint, device="cpu")
    video = model.open_video(frames_dir, planner_config(settings))
    assert video.num_frames == clip.num_frames
    assert video.frame_size == (FRAME_SIZE[1], FRAME_SIZE[0])
    masks = video.add_concept(0, Prompts(text=PHRASE))
    ours_concept = Frame(masks, {})
    ours_first: dict[int, Frame] = {}
    lost_and_new = []
    for step in video.propagate():
        ours_first[step.frame_index] = Frame(step.masks, step.scores)
        lost_and_new.append((step.frame_index, step.new_ids, step.lost_ids))
    width, height = FRAME_SIZE
    clicked_masks = video.add_prompt(
        clip.corrected_frame, corrected, points=[[CLICK[0] * width, CLICK[1] * height]], labels=[1]
    )
    ours_click = Frame(clicked_masks, {})
    # The official default re-tracks from the phrase's frame; ours from the corrected frame.
    ours_second = {
        step.frame_index: Frame(step.masks, step.scores) for step in video.propagate(start_frame=0)
    }
    video.close()
    return Runs(
        (ours_concept, official_concept),
        (ours_first, official_first),
        (ours_click, official_click),
        (ours_second, official_second),
        corrected,
        lost_and_new,
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.oracles import sam3_official as oracle

    return oracle.make_checkpoint(tmp_path_factory.mktemp("sam3") / "sam3.pt", seed=3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, frames_dir: Path, checkpoint: Path) -> Runs:
    from tests.oracles import sam3_official as oracle

    frames = clip_dir(frames_dir, SHORT, tmp_path_factory)
    result = run_both(checkpoint, frames, oracle.reduced_spec(), SETTINGS, SHORT)
    gc.collect()
    return result


def check_concept(runs: Runs) -> None:
    ours, official = runs.concept
    assert official.masks, "no instance found: the test would prove nothing"
    _compare("add_concept", ours, official, scores=False)


def check_propagation(runs: Runs) -> None:
    _compare_pass("first pass", *runs.first)
    shown = {o for frame in runs.first[1].values() for o in frame.masks}
    assert len(shown) >= 2, "fewer than two instances tracked: the test would prove little"


def check_click(runs: Runs, clip: Clip) -> None:
    ours, official = runs.click
    _compare(f"click on frame {clip.corrected_frame}", ours, official, scores=False)
    first = runs.first[1][clip.corrected_frame].masks[runs.corrected_id]
    assert _iou(first, official.masks[runs.corrected_id]) < 0.999, "the click changed nothing"
    _compare_pass("second pass", *runs.second)


def test_phrase_finds_the_official_instances(runs: Runs) -> None:
    check_concept(runs)


def test_propagation_matches_the_official_predictor(runs: Runs) -> None:
    check_propagation(runs)


def test_new_and_lost_ids_follow_the_frames(runs: Runs) -> None:
    ours, _ = runs.first
    seen = set(runs.concept[0].masks)  # shown by add_concept: not new in the propagation
    previous = set(seen)
    for frame, new_ids, lost_ids in runs.lost_and_new:
        shown = set(ours[frame].masks)
        assert set(new_ids) == shown - seen
        assert set(lost_ids) == previous - shown
        seen |= shown
        previous = shown
    assert any(new_ids for _, new_ids, _ in runs.lost_and_new), "no instance started after frame 0"


def test_click_correction_matches_the_official_predictor(runs: Runs) -> None:
    check_click(runs, SHORT)


@pytest.mark.slow
def test_six_frames_and_a_click_on_frame_3_match_the_official_predictor(
    frames_dir: Path, checkpoint: Path
) -> None:
    """The issue's case at reduced width: a phrase on frame 0, 6 propagated frames, a click on
    frame 3, propagation again (~15 min on a 2-core CPU)."""
    from tests.oracles import sam3_official as oracle

    result = run_both(checkpoint, frames_dir, oracle.reduced_spec(), SETTINGS, LONG)
    check_concept(result)
    check_propagation(result)
    check_click(result, LONG)


@pytest.mark.slow
def test_full_size_video_matches_the_official_predictor(
    tmp_path_factory: pytest.TempPathFactory, frames_dir: Path
) -> None:
    """The released sizes (random weights) on the short clip. ``SAMDESK_SAM3_FULL_CHECKPOINT``
    names a full-size random checkpoint written before by ``make_checkpoint(path,
    spec=full_spec(), seed=7)`` (writing one takes minutes)."""
    from tests.oracles import sam3_official as oracle

    given = os.environ.get("SAMDESK_SAM3_FULL_CHECKPOINT")
    if given:
        path = Path(given)
    else:
        path = oracle.make_checkpoint(
            tmp_path_factory.mktemp("sam3full") / "sam3.pt", spec=oracle.full_spec(), seed=7
        )
    frames = clip_dir(frames_dir, SHORT, tmp_path_factory)
    result = run_both(path, frames, oracle.full_spec(), SETTINGS, SHORT)
    check_concept(result)
    check_propagation(result)
    check_click(result, SHORT)
