"""Test-only: the official SAM 3 video predictor (``Sam3VideoPredictor`` over
``Sam3VideoInferenceWithInstanceInteractivity``) on a CPU-only machine, at any width.

The official ``build_sam3_video_model`` hard-codes the released sizes and moves the model to
CUDA; :func:`build_official_video` composes the same classes with the settings of that builder
(``apply_temporal_disambiguation=True``) and sizes from a :class:`tests.oracles.sam3_official.Spec`,
so a checkpoint from ``sam3_official.make_checkpoint`` (the ``sam3.pt`` layout, which is this
model's own ``state_dict`` layout) loads into it strictly. :func:`predictor` wraps it in the
official ``Sam3VideoPredictor`` without the ``.cuda()`` of its constructor.

What else the official video code needs on a CPU (all in :func:`cpu_video_patches`):
- the detector casts the tracker's neck levels to bfloat16 for its multi-GPU all-gather and the
  tracker runs on them; on a GPU everything runs under a bfloat16 autocast, on a CPU the float32
  layers refuse bfloat16 input: the gathered levels are cast back to float32 (the values keep
  their bfloat16 rounding, as on the GPU path);
- ``pin_memory`` (needs an accelerator) is a no-op and RoIAlign runs the reference function
  (``tests.oracles.sam3_detector.cpu_patches``);
- the predictor's session log lines read CUDA memory statistics: they return "";
- the session keeps its decoded frames in CPU memory (``offload_video_to_cpu=True``) and the
  tracker its state (``offload_state_to_cpu=True``); the tracker moves memories to the GPU with
  ``Tensor.cuda()`` before use: a no-op here;
- memories without any object pointer stay bfloat16 and the CPU layers refuse them (see
  :func:`cpu_video_patches`): they are promoted to float32, as autocast does on a GPU;
- the CPU connected-components labelling fails on an empty batch (``torch.stack([])``; the GPU
  kernels return empty results): it returns empty labels and areas.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tests.oracles.sam3_official import Spec, import_official, reduced_spec


@dataclass(frozen=True)
class VideoSettings:
    """The planner's settings of ``build_sam3_video_model`` (its defaults), as parameters."""

    score_threshold_detection: float = 0.5
    det_nms_thresh: float = 0.1
    assoc_iou_thresh: float = 0.1
    new_det_thresh: float = 0.7
    hotstart_delay: int = 15
    hotstart_unmatch_thresh: int = 8
    hotstart_dup_thresh: int = 8
    suppress_overlapping_based_on_recent_occlusion_threshold: float = 0.7
    fill_hole_area: int = 16
    recondition_every_nth_frame: int = 16
    refinement_detector_cond_frame_removal_window: int = 16  # of the interactive subclass


def build_official_video(
    spec: Spec | None = None, settings: VideoSettings | None = None, seed: int = 0
) -> nn.Module:
    """``Sam3VideoInferenceWithInstanceInteractivity`` as ``build_sam3_video_model`` composes it
    (eval, CPU, random weights), at ``spec``'s sizes (None: reduced)."""
    spec = spec or reduced_spec()
    settings = settings or VideoSettings()
    import_official()
    from sam3.model.sam3_image import Sam3ImageOnVideoMultiGPU
    from sam3.model.sam3_video_inference import Sam3VideoInferenceWithInstanceInteractivity
    from sam3.model.vl_combiner import SAM3VLBackbone

    from tests.oracles.sam3_detector import build_official_detector
    from tests.oracles.sam3_official import _text_encoder, _tracker, _vision_backbone

    parts = build_official_detector(spec.detector, seed=seed)
    detector = Sam3ImageOnVideoMultiGPU(
        num_feature_levels=1,
        backbone=SAM3VLBackbone(scalp=1, visual=_vision_backbone(spec), text=_text_encoder(spec)),
        transformer=parts.transformer,
        segmentation_head=parts.segmentation_head,
        semantic_segmentation_head=None,
        input_geometry_encoder=parts.geometry_encoder,
        use_early_fusion=True,
        use_dot_prod_scoring=True,
        dot_prod_scoring=parts.dot_prod_scoring,
        supervise_joint_box_scores=True,
    )
    tracker = _tracker(spec, memory_selection=True)
    model = Sam3VideoInferenceWithInstanceInteractivity(
        detector=detector,
        tracker=tracker,
        score_threshold_detection=settings.score_threshold_detection,
        assoc_iou_thresh=settings.assoc_iou_thresh,
        det_nms_thresh=settings.det_nms_thresh,
        new_det_thresh=settings.new_det_thresh,
        hotstart_delay=settings.hotstart_delay,
        hotstart_unmatch_thresh=settings.hotstart_unmatch_thresh,
        hotstart_dup_thresh=settings.hotstart_dup_thresh,
        suppress_unmatched_only_within_hotstart=True,
        min_trk_keep_alive=-1,
        max_trk_keep_alive=30,
        init_trk_keep_alive=30,
        suppress_overlapping_based_on_recent_occlusion_threshold=(
            settings.suppress_overlapping_based_on_recent_occlusion_threshold
        ),
        suppress_det_close_to_boundary=False,
        fill_hole_area=settings.fill_hole_area,
        recondition_every_nth_frame=settings.recondition_every_nth_frame,
        masklet_confirmation_enable=False,
        decrease_trk_keep_alive_for_empty_masklets=False,
        image_size=1008,
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.5, 0.5, 0.5),
        compile_model=False,
        refinement_detector_cond_frame_removal_window=settings.refinement_detector_cond_frame_removal_window,
    )
    return model.eval()


def load_official_video(
    path: str | Path, spec: Spec | None = None, settings: VideoSettings | None = None
) -> nn.Module:
    """:func:`build_official_video` with the ``sam3.pt``-layout checkpoint at ``path`` loaded
    strictly, as the official builder loads it."""
    model = build_official_video(spec, settings)
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def predictor(model: nn.Module) -> Any:
    """The official ``Sam3VideoPredictor`` over ``model`` (its constructor builds the released
    model on CUDA; this sets the same attributes instead)."""
    import_official()
    from sam3.model.sam3_video_predictor import Sam3VideoPredictor

    class CpuVideoPredictor(Sam3VideoPredictor):
        def _get_session_stats(self) -> str:
            return ""

        def _get_torch_and_gpu_properties(self) -> str:
            return ""

    official = CpuVideoPredictor.__new__(CpuVideoPredictor)
    official.async_loading_frames = False
    official.video_loader_type = "cv2"
    # Frames stay in CPU memory (the official default moves the decoded video to CUDA).
    model.init_state = functools.partial(model.init_state, offload_video_to_cpu=True)
    official.model = model
    return official


@contextlib.contextmanager
def cpu_video_patches(model: nn.Module) -> Iterator[None]:
    """Run the official video model on a CPU (module docstring)."""
    from tests.oracles.sam3_detector import cpu_patches

    detector = model.detector
    gather = detector._gather_tensor

    def gather_as_float32(x: torch.Tensor) -> Any:
        return gather(x.float() if x.dtype == torch.bfloat16 else x)

    detector._gather_tensor = gather_as_float32
    tracker = model.tracker
    # Memories are stored in bfloat16 and concatenated with float32 object pointers (type
    # promotion makes the prompt float32); on a frame with no pointer at all (an object tracked
    # before its first prompted frame) it stays bfloat16 and the CPU float32 layers reject it.
    # On a GPU autocast hides this: promote as in every other case.
    encoder = tracker.transformer.encoder
    encoder_forward = encoder.forward

    def promoted(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("prompt") is not None:
            kwargs["prompt"] = kwargs["prompt"].float()
        return encoder_forward(*args, **kwargs)

    encoder.forward = promoted
    tracker_init = tracker.init_state
    tracker.init_state = functools.partial(tracker_init, offload_state_to_cpu=True)
    to_cuda = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    from sam3.perflib import connected_components as components

    labelling = components.connected_components_cpu

    def label_batch(masks: torch.Tensor) -> Any:
        if masks.shape[0] == 0:
            return torch.zeros_like(masks, dtype=torch.int64), torch.zeros_like(masks, dtype=torch.int64)
        return labelling(masks)

    components.connected_components_cpu = label_batch
    try:
        with cpu_patches():
            yield
    finally:
        components.connected_components_cpu = labelling
        torch.Tensor.cuda = to_cuda  # type: ignore[method-assign]
        tracker.init_state = tracker_init
        encoder.forward = encoder_forward
        detector._gather_tensor = gather


__all__ = [
    "VideoSettings",
    "build_official_video",
    "cpu_video_patches",
    "load_official_video",
    "predictor",
    "replace",
]
