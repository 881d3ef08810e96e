"""SAM 3 video sessions: what the model declares, bad input refused with the reason before
anything changes, and the session's life cycle (reset, remove, close). Small: a reduced random
checkpoint and a 2-frame synthetic video (parity is tests/test_sam3_video_parity.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_runtime.api import Capability, PromptError, Prompts
from model_runtime.models.sam2.frame_sources import VideoError

pytestmark = pytest.mark.oracle

H, W = 60, 80


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from model_runtime import load_model
    from tests.oracles import sam3_official as oracle

    path = oracle.make_checkpoint(tmp_path_factory.mktemp("sam3") / "sam3.pt", seed=3)
    return load_model(path, device="cpu")


def frames(count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, size=(H, W, 3), dtype=np.uint8) for _ in range(count)]


def test_sam3_declares_concept_video_but_not_keyframe_video(model) -> None:  # type: ignore[no-untyped-def]
    assert model.info.can(Capability.CONCEPT_VIDEO)
    assert not model.info.can(Capability.VIDEO)


def test_bad_input_is_refused_with_the_reason(model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VideoError, match="no frames"):
        model.open_video([])
    video = model.open_video(frames())
    with pytest.raises(IndexError, match="outside the video"):
        video.add_concept(2, Prompts(text="cat"))
    with pytest.raises(PromptError, match="one noun phrase"):
        video.add_concept(0, Prompts(text=("cat", "dog")))
    with pytest.raises(PromptError, match="exemplar"):
        video.add_concept(0, Prompts(text="cat", exemplars=(((1.0, 1.0, 20.0, 20.0), True),)))
    with pytest.raises(PromptError, match="2 points but 1 labels"):
        video.add_prompt(0, 5, points=[[1, 2], [3, 4]], labels=[1])
    with pytest.raises(PromptError, match="labels must be 0 or 1"):
        video.add_prompt(0, 5, points=[[1, 2]], labels=[7])
    with pytest.raises(PromptError, match="cannot be combined"):
        video.add_prompt(0, 5, points=[[1, 2]], labels=[1], mask=np.ones((H, W), bool))
    with pytest.raises(PromptError, match="2-D"):
        video.add_prompt(0, 5, mask=np.ones((H, W, 3), bool))
    assert video.object_ids == []  # no refused prompt left an object behind
    with pytest.raises(PromptError, match="nothing to track"):
        next(video.propagate())
    with pytest.raises(KeyError, match="unknown object id 5"):
        video.remove_object(5)
    with pytest.raises(ValueError, match="direction"):
        next(video.propagate(direction="sideways"))
    video.close()


def test_clicks_track_removing_and_reset_forget_and_close_ends_it(model) -> None:  # type: ignore[no-untyped-def]
    video = model.open_video(frames())
    masks = video.add_prompt(0, 4, points=[[40, 30]], labels=[1])
    assert set(masks) <= {4} and video.object_ids == [4]
    video.add_prompt(1, 9, box=[5, 5, 30, 40])
    assert video.object_ids == [4, 9]
    steps = list(video.propagate(start_frame=0))
    assert [s.frame_index for s in steps] == [0, 1]
    assert steps[-1].done == steps[-1].total == 2
    for step in steps:
        assert all(m.shape == (H, W) and m.dtype == bool for m in step.masks.values())
    video.remove_object(4)
    assert video.object_ids == [9]
    video.reset()
    assert video.object_ids == [] and video.phrase is None
    video.close()
    video.close()  # idempotent
    with pytest.raises(VideoError, match="closed"):
        video.add_prompt(0, 1, points=[[1, 1]], labels=[1])
    with pytest.raises(VideoError, match="closed"):
        next(video.propagate())


def test_a_phrase_gives_new_ids_and_a_folder_of_frames_opens(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    for i, frame in enumerate(frames()):
        Image.fromarray(frame).save(tmp_path / f"{i:05d}.png")
    with model.open_video(tmp_path) as video:
        assert video.num_frames == 2 and video.frame_size == (H, W)
        found = video.add_concept(0, Prompts(text="noise"))
        assert video.phrase == "noise"
        assert all(m.shape == (H, W) for m in found.values())
        assert set(found) <= set(video.object_ids)


def test_a_click_frees_the_mask_prompts_within_the_refinement_window(model) -> None:  # type: ignore[no-untyped-def]
    """A click on an object stops its mask prompts within ``refinement_window`` frames of the
    click from conditioning (official ``refinement_detector_cond_frame_removal_window``, 16),
    whatever the re-prompting period (``recondition_every_nth_frame``, here 2)."""
    from model_runtime.models.sam3.planner import PlannerConfig
    from model_runtime.models.sam3.video import ConceptVideoConfig

    mask = np.zeros((H, W), bool)
    mask[10:40, 20:60] = True
    for window, kept in ((16, set()), (5, {0})):
        planner = PlannerConfig(recondition_every_nth_frame=2, refinement_window=window)
        with model.open_video(frames(12), ConceptVideoConfig(planner=planner)) as video:
            video.add_prompt(0, 1, mask=mask)
            video.add_prompt(8, 1, mask=mask)
            video.add_prompt(10, 1, points=[[40, 25]], labels=[1])
            group = video._tracks.group_of(1)
            assert group is not None and group.mask_frames[1] == kept, window
