"""Video-session bookkeeping without running the network: bad inputs give clear errors, state
and feature cache stay bounded over a long video, propagation is a stoppable generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_runtime.api import PromptError
from model_runtime.models.common.upscaling_head import SkipFeatures
from model_runtime.models.sam2.config import make_config
from model_runtime.models.sam2.frame_sources import VideoError, preprocess_video_frame
from model_runtime.models.sam2.network import Sam2Network
from model_runtime.models.sam2.tracker import FrameOutput
from model_runtime.models.sam2.video import FeatureCache, VideoConfig, VideoSession
from model_runtime.models.sam2.video_features import FrameFeatures


@pytest.fixture(scope="module")
def network() -> Sam2Network:
    return Sam2Network(make_config("sam2.1", "hiera_t")).eval()


def _frames(n: int, h: int = 24, w: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8) for _ in range(n)]


class _FakeTracker:
    """Stands in for the network (a ``FrameTracker``): features and outputs of the right shapes,
    the frames run counted."""

    def __init__(self) -> None:
        self.inferred: list[tuple[int, int]] = []

    def encode_frame(self, rgb: np.ndarray) -> FrameFeatures:
        return FrameFeatures(
            skips=SkipFeatures(s0=torch.zeros(1, 65536, 32), s1=torch.zeros(1, 16384, 64)),
            s16=torch.zeros(1, 256, 64, 64), pos16=torch.zeros(1, 256, 64, 64),
        )

    def infer(self, feats, frame, tracks, **kwargs) -> list[FrameOutput]:
        self.inferred.append((frame, len(tracks)))
        return [
            FrameOutput(
                pred_masks=torch.full((1, 1, 256, 256), 1.0 if frame % 2 else -1.0),
                obj_ptr=torch.zeros(1, 256),
                object_score=torch.ones(1, 1),
                maskmem=torch.zeros(1, 64, 64, 64, dtype=torch.bfloat16) if kwargs["encode_memory"] else None,
            )
            for _ in tracks
        ]

    def encode_memory(self, feats, high_res, score, from_prompt) -> torch.Tensor:
        return torch.zeros(high_res.shape[0], 64, 64, 64, dtype=torch.bfloat16)


def _session(
    network: Sam2Network, n: int, config: VideoConfig | None = None
) -> tuple[VideoSession, _FakeTracker]:
    fake = _FakeTracker()
    session = VideoSession(network, torch.device("cpu"), _frames(n), config, tracker=fake)  # type: ignore[arg-type]
    return session, fake


def test_state_and_feature_cache_stay_bounded_over_a_long_video(network: Sam2Network) -> None:
    config = VideoConfig(feature_cache_bytes=100 * 2**20, retain_radius=16)
    session, fake = _session(network, 400, config)
    session.add_prompt(0, 1, points=[[5, 5]], labels=[1])
    session.add_prompt(0, 2, box=[1, 1, 10, 10])
    sizes = []
    for step in session.propagate():
        assert set(step.masks) == {1, 2}
        assert step.masks[1].shape == (24, 32)
        sizes.append(session.state_nbytes())
    assert step.done == step.total == 400
    # Grows while the retained window fills, then flat.
    assert max(sizes[100:]) == min(sizes[100:]) == sizes[40]
    assert sizes[-1] < 60 * 2**20
    # Both objects ran in one batch on every frame that was not a prompted frame.
    assert [n for _, n in fake.inferred] == [1, 1] + [2] * 399


def test_feature_cache_is_bounded_in_bytes() -> None:
    frame = np.zeros((24, 32, 3), np.uint8)
    fake = _FakeTracker()
    one = fake.encode_frame(frame).nbytes()
    cache = FeatureCache(max_bytes=3 * one)
    for index in range(10):
        cache.put(index, fake.encode_frame(frame))
        assert cache.nbytes <= 3 * one
    assert cache.get(6) is None and cache.get(7) is not None
    cache.put(10, fake.encode_frame(frame))  # evicts 8, the least recently used, not 7
    assert cache.get(8) is None and cache.get(7) is not None


def test_propagation_is_a_stoppable_generator_with_progress(network: Sam2Network) -> None:
    session, fake = _session(network, 50)
    session.add_prompt(10, 7, points=[[5, 5]], labels=[1])
    steps = session.propagate(direction="both", max_frames=5)
    first = next(steps)
    assert (first.frame_index, first.done, first.total) == (10, 1, 10)
    steps.close()
    assert all(frame <= 10 for frame, _ in fake.inferred)
    order = [s.frame_index for s in session.propagate(start_frame=10, direction="both", max_frames=3)]
    assert order == [10, 11, 12, 9, 8, 7]
    assert [s.frame_index for s in session.propagate(start_frame=2, direction="backward")] == [2, 1, 0]


def test_objects_are_tracked_only_over_their_ranges_and_until_stopped(network: Sam2Network) -> None:
    """What "track from here" needs: each object up to its own next keyframe, and no further once
    it is lost; frames outside every object's range are not computed at all."""
    session, fake = _session(network, 60)
    session.add_prompt(10, 1, points=[[5, 5]], labels=[1])
    session.add_prompt(10, 2, points=[[9, 9]], labels=[1])
    steps = list(session.propagate(10, "forward", ranges={1: (10, 14), 2: (10, 17)}))
    assert [(s.frame_index, sorted(s.masks)) for s in steps] == (
        [(f, [1, 2]) for f in range(10, 15)] + [(f, [2]) for f in range(15, 18)]
    )
    assert max(frame for frame, _ in fake.inferred) == 17  # nothing computed past the ranges
    assert steps[-1].done == 8
    # An object stopped mid-pass (lost) is tracked no further in that direction, but again in
    # the next one; when every object is stopped the pass ends.
    fake.inferred.clear()
    seen = []
    for step in session.propagate(30, "both", max_frames=6, ranges={1: (0, 59)}):
        seen.append((step.frame_index, sorted(step.masks)))
        if step.frame_index == 32:
            session.stop_object(1)
        if step.frame_index == 28:
            session.stop_object(1)
            session.stop_object(2)
    assert seen == [(30, [1, 2]), (31, [1, 2]), (32, [1, 2]), (33, [2]), (34, [2]), (35, [2]),
                    (29, [1, 2]), (28, [1, 2])]
    with pytest.raises(KeyError):
        session.stop_object(99)


def test_bad_inputs_give_clear_errors(network: Sam2Network, tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such file"):
        VideoSession(network, torch.device("cpu"), tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="no image files"):
        VideoSession(network, torch.device("cpu"), tmp_path)
    with pytest.raises(VideoError, match="no frames"):
        VideoSession(network, torch.device("cpu"), [])
    (tmp_path / "00000.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(VideoError, match="00000.jpg"):
        VideoSession(network, torch.device("cpu"), tmp_path)

    session, _ = _session(network, 5)
    with pytest.raises(IndexError, match="outside the video"):
        session.add_prompt(5, 1, points=[[1, 1]], labels=[1])
    with pytest.raises(IndexError, match="outside the video"):
        session.add_prompt(-1, 1, points=[[1, 1]], labels=[1])
    with pytest.raises(PromptError):
        session.add_prompt(0, 1)
    with pytest.raises(PromptError, match="labels"):
        session.add_prompt(0, 1, points=[[1, 1], [2, 2]], labels=[1])
    with pytest.raises(PromptError, match="no object"):
        next(session.propagate())
    with pytest.raises(KeyError, match="unknown object id 3"):
        session.remove_object(3)
    with pytest.raises(KeyError, match="unknown object id 3"):
        session.clear_prompts(0, 3)
    session.add_prompt(1, 1, points=[[1, 1]], labels=[1])
    with pytest.raises(ValueError, match="direction"):
        next(session.propagate(direction="sideways"))
    with pytest.raises(IndexError):
        next(session.propagate(start_frame=9))


def test_remove_clear_and_reset(network: Sam2Network) -> None:
    session, _ = _session(network, 6)
    session.add_prompt(0, 1, points=[[1, 1]], labels=[1])
    masks = session.add_prompt(2, 2, points=[[3, 3]], labels=[1])
    assert set(masks) == {1, 2} and not masks[1].any()
    session.remove_object(2)
    assert session.object_ids == [1]
    session.clear_prompts(0)
    with pytest.raises(PromptError, match="no object"):
        next(session.propagate())
    session.add_prompt(0, 1, points=[[1, 1]], labels=[1])
    assert [s.frame_index for s in session.propagate()] == list(range(6))
    session.reset()
    assert session.object_ids == [] and session.state_nbytes() == 0


def test_video_frames_are_preprocessed_like_the_official_loader() -> None:
    """PIL bicubic on uint8, ÷255 in float64, then float32 normalisation."""
    from PIL import Image

    frame = _frames(1, 37, 53)[0]
    img = np.asarray(Image.fromarray(frame).resize((1024, 1024))) / 255.0
    expected = torch.from_numpy(img).permute(2, 0, 1).float()
    expected -= torch.tensor((0.485, 0.456, 0.406))[:, None, None]
    expected /= torch.tensor((0.229, 0.224, 0.225))[:, None, None]
    assert torch.equal(preprocess_video_frame(frame)[0], expected)


def test_video_files_open_lazily_and_bad_files_fail_clearly(
    network: Sam2Network, media_dir: Path, tmp_path: Path
) -> None:
    import av

    session = VideoSession(network, torch.device("cpu"), media_dir / "bedroom.mp4")
    assert (session.num_frames, session.frame_size) == (200, (540, 960))
    assert session.frames.read(150).shape == (540, 960, 3)

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(VideoError, match="broken.mp4"):
        VideoSession(network, torch.device("cpu"), broken)

    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height = 64, 48
    with pytest.raises(VideoError, match="empty.mp4"):
        VideoSession(network, torch.device("cpu"), empty)


def test_close_frees_the_objects_features_and_the_video_reader(network: Sam2Network, media_dir: Path) -> None:
    fake = _FakeTracker()
    session = VideoSession(network, torch.device("cpu"), media_dir / "bedroom.mp4", tracker=fake)  # type: ignore[arg-type]
    frames = session.frames
    assert frames.read(1).shape == (540, 960, 3)
    session.add_prompt(0, 1, points=[[5, 5]], labels=[1])
    propagation = session.propagate(max_frames=5)
    next(propagation)
    assert session.state_nbytes() > 0

    session.close()
    assert session.closed and session.state_nbytes() == 0 and session.feature_cache_nbytes == 0
    with pytest.raises(VideoError, match="closed"):
        frames.read(2)  # the decoder is released
    with pytest.raises(VideoError, match="closed"):
        session.add_prompt(0, 1, points=[[5, 5]], labels=[1])
    with pytest.raises(VideoError, match="closed"):
        next(session.propagate())
    with pytest.raises(VideoError, match="closed"):
        next(propagation)  # one that was running stops too
    session.close()  # again: nothing happens


def test_close_leaves_a_frame_source_the_caller_made_open(network: Sam2Network) -> None:
    from model_runtime.models.sam2.frame_sources import ArrayFrames

    class Source(ArrayFrames):
        closes = 0

        def close(self) -> None:
            Source.closes += 1

    source = Source(_frames(3))
    with VideoSession(network, torch.device("cpu"), source) as session:
        assert session.frames is source
    assert session.closed and Source.closes == 0
