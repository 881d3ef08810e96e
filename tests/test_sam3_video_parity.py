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

Each frame is compared in two stages. First the low-res logits that enter hole filling (the
tracker's masks of the objects it carries and the new detections' masks, recorded on both sides
by a :class:`LogitSpy`): within ``LOGIT_REL`` (1 %) of the tensor's largest value. Both sides
round the tracker's features to bfloat16 (the official all-gather), so the two ViTs' float32
differences flip a few of those roundings and the logits differ by ~1e-3 (1.1e-3 seen, scale
0.75); a wrong feature, memory or prompt moves them by a good part of their scale. Then the
masks: IoU ≥ 0.999, except on a frame where one of those logits is so near 0 that its sign
differs: there ≥ 0.99, and fewer than half of the frames may be such frames (4 of 16 in the
6-frame test on 2026-12-05, all masks at 0.999 but frame 4's). Why: random weights give speckled,
low-contrast masks (|logit| < 0.8, many one-pixel components), so hole filling and speck removal
turn one flipped pixel into a changed component. Measured on the 6-frame clip with both sides
reading identical backbone features (2026-12-05): the tracker's logits agree within 7e-7, and on
frame 4 one logit of object 3 is 1.7e-8 here and -1.5e-7 in the official; hole filling makes that
12 low-res pixels, 11 video pixels that move between objects 2 and 3 (IoU 0.994), and frame 5
agrees exactly again.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
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


# Per frame, the low-res logits entering hole filling (the tracker's, and new detections') agree
# within LOGIT_REL of each tensor's largest official value, and the masks at MIN_IOU; where one
# of those logits is so near 0 that it has another sign on the two sides, that frame's masks at
# MIN_IOU_AFTER_FLIP (module docstring).
LOGIT_REL = 1e-2
MIN_IOU = 0.999
MIN_IOU_AFTER_FLIP = 0.99


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


def _compare(where: str, ours: Frame, official: Frame, scores: bool = True, min_iou: float = MIN_IOU) -> None:
    assert sorted(ours.masks) == sorted(official.masks), (where, sorted(ours.masks), sorted(official.masks))
    for obj_id, expected in official.masks.items():
        got = ours.masks[obj_id]
        assert got.shape == expected.shape, where
        iou = _iou(got, expected)
        assert iou >= min_iou, f"{where} object {obj_id}: IoU {iou}"
        if scores:
            assert abs(ours.scores[obj_id] - official.scores[obj_id]) <= 1e-4, (
                f"{where} object {obj_id}: score {ours.scores[obj_id]} vs {official.scores[obj_id]}"
            )


def _compare_logits(where: str, ours: list[torch.Tensor], official: list[torch.Tensor]) -> bool:
    """The segment's recorded logits agree within :data:`LOGIT_REL` of each tensor's scale; True
    when one of them still has the other sign on the two sides (near 0 on both: float noise)."""
    assert [t.shape for t in ours] == [t.shape for t in official], f"{where}: logits recorded differ"
    flipped = False
    for mine, theirs in zip(ours, official, strict=True):
        if mine.numel() == 0:
            continue
        diff = float((mine - theirs).abs().max())
        scale = float(theirs.abs().max())
        assert diff <= LOGIT_REL * scale, (
            f"{where}: low-res logits differ by up to {diff:.3g} (scale {scale:.3g})"
        )
        flipped |= bool(((mine > 0) != (theirs > 0)).any())
    return flipped


def _compare_segment(where: str, key: str, runs: Runs, ours: Frame, official: Frame, scores: bool) -> None:
    """Logits first, then masks: IoU ≥ :data:`MIN_IOU`, or ≥ :data:`MIN_IOU_AFTER_FLIP` on a
    frame where a logit within float noise of 0 has a different sign (module docstring)."""
    flipped = _compare_logits(where, runs.ours.logits[key], runs.official.logits[key])
    _compare(where, ours, official, scores, MIN_IOU_AFTER_FLIP if flipped else MIN_IOU)


def _compare_pass(name: str, runs: Runs) -> None:
    ours, official = getattr(runs.ours, name), getattr(runs.official, name)
    assert list(ours) == list(official), name
    assert set(runs.ours.logits) == set(runs.official.logits), "segments recorded differ"
    for frame in official:
        _compare_segment(
            f"{name} pass frame {frame}", f"{name} {frame}", runs, ours[frame], official[frame], True
        )


class LogitSpy:
    """Records the low-res logits entering hole filling, the planner's first step on the tracker's
    masks (and on new detections'), per segment: the phrase's frame, each propagated frame."""

    def __init__(self) -> None:
        self.current: list[torch.Tensor] = []

    @contextlib.contextmanager
    def on(self, module: Any, name: str) -> Iterator[None]:
        fill = getattr(module, name)

        def spy(masks: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            self.current.append(masks.detach().float().cpu().clone())
            return fill(masks, *args, **kwargs)

        setattr(module, name, spy)
        try:
            yield
        finally:
            setattr(module, name, fill)

    def cut(self) -> list[torch.Tensor]:
        segment, self.current = self.current, []
        return segment


@dataclass
class Side:
    """One implementation's answers: the phrase's frame, the first pass, the click's frame, the
    second pass, and the logits recorded by a :class:`LogitSpy` ("concept", "first 3", ...)."""

    concept: Frame
    first: dict[int, Frame]
    click: Frame
    second: dict[int, Frame]
    logits: dict[str, list[torch.Tensor]]
    lost_and_new: list[tuple[int, list[int], list[int]]] = field(default_factory=list)


def corrected_object(first: dict[int, Frame], clip: Clip) -> int:
    """The instance the click corrects: the lowest id shown on the corrected frame."""
    shown = sorted(first[clip.corrected_frame].masks)
    assert shown, "no instance on the corrected frame: the test would prove nothing"
    return shown[0]


def _official_pass(
    predictor: Any,
    session_id: str,
    spy: LogitSpy,
    logits: dict[str, list[torch.Tensor]],
    name: str,
    start: int | None,
    clip: Clip,
) -> dict[int, Frame]:
    request = {
        "type": "propagate_in_video",
        "session_id": session_id,
        "propagation_direction": "forward",
        "start_frame_index": start,
        "max_frame_num_to_track": clip.num_frames,
    }
    frames = {}
    for r in predictor.handle_stream_request(request):
        frames[r["frame_index"]] = _official_frame(r["outputs"])
        logits[f"{name} {r['frame_index']}"] = spy.cut()
    return frames


def run_official(checkpoint: Path, frames_dir: Path, spec: Any, settings: VideoSettings, clip: Clip) -> Side:
    from tests.oracles import sam3_video

    official_model = sam3_video.load_official_video(checkpoint, spec, settings)
    predictor = sam3_video.predictor(official_model)
    spy, logits = LogitSpy(), {}
    from sam3.model import sam3_video_base

    with (
        sam3_video.cpu_video_patches(official_model),
        spy.on(sam3_video_base, "fill_holes_in_mask_scores"),
        torch.inference_mode(),
    ):
        session_id = predictor.handle_request({"type": "start_session", "resource_path": str(frames_dir)})[
            "session_id"
        ]

        added = predictor.handle_request(
            {"type": "add_prompt", "session_id": session_id, "frame_index": 0, "text": PHRASE}
        )
        concept = _official_frame(added["outputs"])
        logits["concept"] = spy.cut()
        first = _official_pass(predictor, session_id, spy, logits, "first", 0, clip)
        clicked = predictor.handle_request(
            {
                "type": "add_prompt",
                "session_id": session_id,
                "frame_index": clip.corrected_frame,
                "points": [list(CLICK)],
                "point_labels": [1],
                "obj_id": corrected_object(first, clip),
            }
        )
        click = _official_frame(clicked["outputs"])
        logits["click"] = spy.cut()
        second = _official_pass(predictor, session_id, spy, logits, "second", None, clip)
        predictor.handle_request({"type": "close_session", "session_id": session_id})
    del predictor, official_model
    gc.collect()
    return Side(concept, first, click, second, logits)


def run_ours(model: Any, frames_dir: Path, settings: VideoSettings, clip: Clip, corrected: int) -> Side:
    """Our session's answers, the click on ``corrected`` (the official side's choice)."""
    from model_runtime.models.sam3 import video_tracks

    spy, logits = LogitSpy(), {}
    video = model.open_video(frames_dir, planner_config(settings))
    assert video.num_frames == clip.num_frames
    assert video.frame_size == (FRAME_SIZE[1], FRAME_SIZE[0])
    with spy.on(video_tracks, "fill_holes"):
        concept = Frame(video.add_concept(0, Prompts(text=PHRASE)), {})
        logits["concept"] = spy.cut()
        first: dict[int, Frame] = {}
        lost_and_new = []
        for step in video.propagate():
            first[step.frame_index] = Frame(step.masks, step.scores)
            logits[f"first {step.frame_index}"] = spy.cut()
            lost_and_new.append((step.frame_index, step.new_ids, step.lost_ids))
        width, height = FRAME_SIZE
        clicked = video.add_prompt(
            clip.corrected_frame, corrected, points=[[CLICK[0] * width, CLICK[1] * height]], labels=[1]
        )
        logits["click"] = spy.cut()
        # The official default re-tracks from the phrase's frame; ours from the corrected frame.
        second = {}
        for step in video.propagate(start_frame=0):
            second[step.frame_index] = Frame(step.masks, step.scores)
            logits[f"second {step.frame_index}"] = spy.cut()
    video.close()
    return Side(concept, first, Frame(clicked, {}), second, logits, lost_and_new)


@dataclass
class Runs:
    """Both sides' answers (ours, official)."""

    ours: Side
    official: Side
    corrected_id: int


def run_both(checkpoint: Path, frames_dir: Path, spec: Any, settings: VideoSettings, clip: Clip) -> Runs:
    from model_runtime import load_model

    official = run_official(checkpoint, frames_dir, spec, settings, clip)
    corrected = corrected_object(official.first, clip)
    model = load_model(checkpoint, device="cpu")
    return Runs(run_ours(model, frames_dir, settings, clip, corrected), official, corrected)


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
    assert runs.official.concept.masks, "no instance found: the test would prove nothing"
    _compare_segment("add_concept", "concept", runs, runs.ours.concept, runs.official.concept, False)


def check_propagation(runs: Runs) -> None:
    _compare_pass("first", runs)
    shown = {o for frame in runs.official.first.values() for o in frame.masks}
    assert len(shown) >= 2, "fewer than two instances tracked: the test would prove little"


def check_click(runs: Runs, clip: Clip) -> None:
    ours, official = runs.ours.click, runs.official.click
    _compare_segment(f"click on frame {clip.corrected_frame}", "click", runs, ours, official, False)
    first = runs.official.first[clip.corrected_frame].masks[runs.corrected_id]
    assert _iou(first, official.masks[runs.corrected_id]) < 0.999, "the click changed nothing"
    _compare_pass("second", runs)


def check_flips_are_rare(runs: Runs) -> None:
    """Sign flips near 0 are noise only while most frames have none (a shifted logit map would
    flip pixels on nearly every frame)."""
    logits = runs.official.logits
    flipped = [k for k in logits if _compare_logits(k, runs.ours.logits[k], logits[k])]
    assert 2 * len(flipped) < len(logits), f"sign flips on {flipped} of {len(logits)} frames"


def test_phrase_finds_the_official_instances(runs: Runs) -> None:
    check_concept(runs)


def test_propagation_matches_the_official_predictor(runs: Runs) -> None:
    check_propagation(runs)


def test_new_and_lost_ids_follow_the_frames(runs: Runs) -> None:
    ours = runs.ours.first
    seen = set(runs.ours.concept.masks)  # shown by add_concept: not new in the propagation
    previous = set(seen)
    for frame, new_ids, lost_ids in runs.ours.lost_and_new:
        shown = set(ours[frame].masks)
        assert set(new_ids) == shown - seen
        assert set(lost_ids) == previous - shown
        seen |= shown
        previous = shown
    assert any(new_ids for _, new_ids, _ in runs.ours.lost_and_new), "no instance started after frame 0"


def test_click_correction_matches_the_official_predictor(runs: Runs) -> None:
    check_click(runs, SHORT)
    check_flips_are_rare(runs)


@pytest.mark.slow
def test_six_frames_and_a_click_on_frame_3_match_the_official_predictor(
    frames_dir: Path, checkpoint: Path
) -> None:
    """The issue's case at reduced width: a phrase on frame 0, 6 propagated frames, a click on
    frame 3, propagation again (~10 min on a loaded 2-core CPU). On frame 4 of the first pass a
    tracker logit of object 3 is 1.7e-8 here and -1.5e-7 in the official (module docstring)."""
    from tests.oracles import sam3_official as oracle

    result = run_both(checkpoint, frames_dir, oracle.reduced_spec(), SETTINGS, LONG)
    check_concept(result)
    check_propagation(result)
    check_click(result, LONG)
    check_flips_are_rare(result)


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
    check_flips_are_rare(result)
