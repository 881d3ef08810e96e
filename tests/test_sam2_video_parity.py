"""SAM 2.1 video sessions against the official ``SAM2VideoPredictor`` on random weights and the
first frames of a real video: clicks and a box on different frames, forward propagation, a
correction and re-propagation, then backward propagation from a middle frame.

The official predictor is built with ``add_all_frames_to_correct_as_cond=true`` (a correction
becomes a conditioning frame, our documented semantics). Both read the same JPEG folder.
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
import torch

import tests.oracles  # noqa: F401  (torchvision shim before the official package)
from model_runtime.checkpoints import read_state_dict
from model_runtime.models.sam2.model import from_state_dict
from model_runtime.models.sam2.video import VideoSession  # noqa: F401
from tests.oracles.sam2 import CONFIGS, make_checkpoint

pytestmark = pytest.mark.oracle

NUM_FRAMES = 4
FRAME_SIZE = (480, 270)  # (W, H): the video downscaled; both sides read the same files


@pytest.fixture(scope="module")
def frames_dir(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import av
    from PIL import Image

    out = tmp_path_factory.mktemp("bedroom_frames")
    with av.open(str(media_dir / "bedroom.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == NUM_FRAMES:
                break
            small = frame.to_image().resize(FRAME_SIZE, Image.Resampling.BILINEAR)
            small.save(out / f"{i:05d}.jpg", quality=95)
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "sam2.1_hiera_tiny.pt"
    return make_checkpoint("sam2.1", "hiera_t", path, seed=3)


def _official(ckpt: Path):
    from sam2.build_sam import build_sam2_video_predictor

    predictor = build_sam2_video_predictor(
        CONFIGS["sam2.1"]["hiera_t"], str(ckpt), device="cpu",
        hydra_overrides_extra=["++model.add_all_frames_to_correct_as_cond=true"],
    )
    # The official memory is bfloat16 spatial memories concatenated with float32 object pointers
    # (type promotion makes it float32). On a frame with no pointer at all (an object tracked
    # before its first prompted frame) it stays bfloat16 and the CPU float32 linear layers
    # reject it; on GPU autocast hides this. Promote as in every other case.
    attention = predictor.memory_attention
    forward = attention.forward

    def promoted(curr, memory, curr_pos=None, memory_pos=None, num_obj_ptr_tokens=0):
        return forward(curr, memory.float(), curr_pos, memory_pos, num_obj_ptr_tokens)

    attention.forward = promoted
    return predictor


def _compare(frame: int, ours: dict[int, np.ndarray], official: dict[int, np.ndarray]) -> None:
    """Logits at video resolution: max |diff| <= 1e-3 of the scale, and mask IoU >= 0.999."""
    assert sorted(ours) == sorted(official), (frame, sorted(ours), sorted(official))
    for obj_id, expected in official.items():
        got = ours[obj_id]
        assert got.shape == expected.shape
        scale = max(1.0, float(np.abs(expected).max()))
        diff = float(np.abs(got - expected).max())
        assert diff <= 1e-3 * scale, f"frame {frame} object {obj_id}: max diff {diff} (scale {scale})"
        a, b = got > 0, expected > 0
        union = np.logical_or(a, b).sum()
        iou = 1.0 if union == 0 else np.logical_and(a, b).sum() / union
        assert iou >= 0.999, f"frame {frame} object {obj_id}: IoU {iou}"


def _compare_masks(frame: int, ours: dict[int, np.ndarray], official: dict[int, np.ndarray]) -> None:
    """``add_prompt`` returns masks only: IoU >= 0.999 with the official logits' masks, and any
    pixel that differs lies where the official logit is within float rounding of zero
    (|logit| <= 1e-3 of the scale), as the logits tolerance of :func:`_compare` implies."""
    assert sorted(ours) == sorted(official), (frame, sorted(ours), sorted(official))
    for obj_id, logits in official.items():
        expected = logits > 0
        got = ours[obj_id]
        union = np.logical_or(got, expected).sum()
        iou = 1.0 if union == 0 else np.logical_and(got, expected).sum() / union
        assert iou >= 0.999, f"frame {frame} object {obj_id}: IoU {iou}"
        scale = max(1.0, float(np.abs(logits).max()))
        flipped = np.abs(logits[got != expected])
        assert flipped.size == 0 or flipped.max() <= 1e-3 * scale, (
            f"frame {frame} object {obj_id}: {flipped.size} pixels differ, official |logit| up to "
            f"{flipped.max()} (scale {scale})"
        )


def _official_steps(predictor, state, **kwargs) -> dict[int, dict[int, np.ndarray]]:
    result = {}
    for frame, obj_ids, logits in predictor.propagate_in_video(state, **kwargs):
        result[frame] = {oid: logits[i, 0].numpy() for i, oid in enumerate(obj_ids)}
    return result


def _our_steps(session: VideoSession, **kwargs) -> dict[int, dict[int, np.ndarray]]:
    result = {}
    for step in session.propagate(**kwargs):
        assert set(step.masks) == set(step.logits) == set(step.object_scores)
        for oid, mask in step.masks.items():
            np.testing.assert_array_equal(mask, step.logits[oid] > 0)
        result[step.frame_index] = step.logits
    return result


def _check_pass(ours: dict, official: dict) -> None:
    assert list(ours) == list(official)
    for frame in official:
        _compare(frame, ours[frame], official[frame])


@torch.no_grad()
def test_video_session_matches_official_predictor(checkpoint: Path, frames_dir: Path) -> None:
    predictor = _official(checkpoint)
    state = predictor.init_state(str(frames_dir))
    model = from_state_dict(read_state_dict(checkpoint), family="sam2.1", path=checkpoint, device="cpu")
    session = model.open_video(frames_dir)
    assert session.num_frames == NUM_FRAMES
    assert session.frame_size == (FRAME_SIZE[1], FRAME_SIZE[0])

    # Object 1: a click on frame 0. Object 2: a box on frame 2.
    click = np.array([[250.0, 160.0]], dtype=np.float32)
    one = np.array([1], np.int32)
    _, ids, logits = predictor.add_new_points_or_box(state, 0, 1, points=click, labels=one)
    masks = session.add_prompt(0, 1, points=click, labels=[1])
    np.testing.assert_array_equal(masks[1], logits[0, 0].numpy() > 0)
    box = np.array([60.0, 40.0, 200.0, 220.0], dtype=np.float32)
    _, ids, logits = predictor.add_new_points_or_box(state, 2, 2, box=box)
    masks = session.add_prompt(2, 2, box=box)
    _compare_masks(2, masks, {oid: logits[i, 0].numpy() for i, oid in enumerate(ids)})

    _check_pass(_our_steps(session), _official_steps(predictor, state))

    # A correction on a tracked frame becomes a conditioning frame; re-propagate from there.
    fix = np.array([[300.0, 120.0], [120.0, 200.0]], dtype=np.float32)
    fix_labels = np.array([1, 0], dtype=np.int32)
    _, ids, logits = predictor.add_new_points_or_box(state, 3, 1, points=fix, labels=fix_labels)
    masks = session.add_prompt(3, 1, points=fix, labels=fix_labels)
    _compare_masks(3, masks, {oid: logits[i, 0].numpy() for i, oid in enumerate(ids)})
    _check_pass(_our_steps(session, start_frame=3), _official_steps(predictor, state, start_frame_idx=3))

    # Backward from a middle frame.
    _check_pass(
        _our_steps(session, start_frame=2, direction="backward"),
        _official_steps(predictor, state, start_frame_idx=2, reverse=True),
    )
    del predictor, state, model, session
    gc.collect()
