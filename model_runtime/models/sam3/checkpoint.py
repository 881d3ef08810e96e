"""Reading SAM 3's ``sam3.pt``: which parts a file has, and loading the encoders from it.

The released file is one flat dict of 1,465 tensors in four parts:

==============  ===================================================================  =========
part            key prefixes                                                         needed by
==============  ===================================================================  =========
image encoder   ``detector.backbone.vision_backbone.{trunk,convs}.``                 everything
text encoder    ``detector.backbone.language_backbone.``                             concepts
detector        ``detector.{transformer,segmentation_head,geometry_encoder,``        concepts
                ``dot_prod_scoring}.``
tracker         ``tracker.``, ``detector.backbone.vision_backbone.sam2_convs.``      clicks
==============  ===================================================================  =========

A file missing a part (an interrupted conversion, a file cut down by hand) is refused with a
:class:`CheckpointError` that names the part, before anything is built. Weights are used in
place: the modules are made on the ``meta`` device and take the file's (memory-mapped) tensors
with ``assign=True``, so nothing is allocated twice and nothing is randomly initialised first.
Tensors the encoders never read are left out (the text encoder's pooled-sentence projection,
the neck level the backbone drops).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace

import torch

from model_runtime.checkpoint_index import Contents
from model_runtime.checkpoints import SAM3, CheckpointError, load_strict
from model_runtime.models.sam3.config import ConfigError, EncoderConfig, detect_encoder_config
from model_runtime.models.sam3.encoders import Sam3Encoders

IMAGE_ENCODER = "image encoder"
TEXT_ENCODER = "text encoder"
DETECTOR = "detector"
TRACKER = "tracker"

PARTS: dict[str, tuple[str, ...]] = {
    IMAGE_ENCODER: ("detector.backbone.vision_backbone.trunk.", "detector.backbone.vision_backbone.convs."),
    TEXT_ENCODER: ("detector.backbone.language_backbone.",),
    DETECTOR: (
        "detector.transformer.",
        "detector.segmentation_head.",
        "detector.geometry_encoder.",
        "detector.dot_prod_scoring.",
    ),
    TRACKER: (
        "tracker.sam_prompt_encoder.",
        "tracker.sam_mask_decoder.",
        "detector.backbone.vision_backbone.sam2_convs.",
    ),
}

BACKBONE = "detector.backbone."
# In the file, never read by the encoders: the pooled-sentence projection and the dropped neck level.
UNUSED_BACKBONE_KEYS = ("language_backbone.encoder.text_projection",)


def missing_parts(
    state_dict: Mapping[str, torch.Tensor], parts: Iterable[str] = PARTS
) -> dict[str, list[str]]:
    """Part name -> the key prefixes of it that no key of ``state_dict`` starts with (only parts
    with something missing)."""
    keys = list(state_dict)
    out: dict[str, list[str]] = {}
    for part in parts:
        absent = [p for p in PARTS[part] if not any(k.startswith(p) for k in keys)]
        if absent:
            out[part] = absent
    return out


def require_parts(
    state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike[str], parts: Iterable[str] = PARTS
) -> None:
    """Raise a :class:`CheckpointError` naming each missing part (of ``parts``) of a SAM 3 file."""
    absent = missing_parts(state_dict, parts)
    if absent:
        described = "; ".join(
            f"no {part} ({', '.join(p + '*' for p in prefixes)})" for part, prefixes in absent.items()
        )
        raise CheckpointError(
            path,
            f"incomplete SAM 3 checkpoint: {described}. The released sam3.pt has all four parts "
            "(image encoder, text encoder, detector, tracker); download it again",
            SAM3,
        )


def part_of(key: str) -> str:
    """The part of the file a key belongs to (one of :data:`PARTS`' names)."""
    for part in (IMAGE_ENCODER, TEXT_ENCODER, TRACKER):
        if key.startswith(PARTS[part]):
            return part
    return TRACKER if key.startswith("tracker.") else DETECTOR


def describe_cut_short(contents: Contents) -> str:
    """The problem of a SAM 3 file whose end is missing, part by part (``checkpoint_index``)."""
    totals: dict[str, int] = {}
    lost: dict[str, int] = {}
    for name in contents.names:
        part = part_of(name)
        totals[part] = totals.get(part, 0) + 1
        if name in contents.missing:
            lost[part] = lost.get(part, 0) + 1
    described = ", ".join(
        f"{part} ({'all' if lost[part] == totals[part] else lost[part]} of {totals[part]} tensors)"
        for part in PARTS
        if part in lost
    )
    have, need = contents.size / (1 << 30), contents.needed / (1 << 30)
    return (
        f"truncated: the SAM 3 file has {have:.2f} of {need:.2f} GB, so it lacks the data of its "
        f"{described}; download it again"
    )


def encoder_state_dict(
    state_dict: Mapping[str, torch.Tensor], config: EncoderConfig
) -> dict[str, torch.Tensor]:
    """The file's ``detector.backbone.*`` tensors that :class:`Sam3Encoders` of ``config`` reads,
    under its own key names."""
    kept_levels = len(config.neck.used_scales)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not key.startswith(BACKBONE):
            continue
        name = key[len(BACKBONE) :]
        if name in UNUSED_BACKBONE_KEYS:
            continue
        if name.startswith("language_backbone.") and config.text is None:
            continue
        if name.startswith("vision_backbone.sam2_convs.") and not config.neck.with_tracker:
            continue
        if name.startswith(("vision_backbone.convs.", "vision_backbone.sam2_convs.")):
            level = int(name.split(".")[2])
            if level >= kept_levels:
                continue
        out[name] = value
    return out


def load_encoders(
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    *,
    with_text: bool = True,
    with_tracker: bool = True,
    device: torch.device | str = "cpu",
) -> Sam3Encoders:
    """:class:`Sam3Encoders` holding the file's weights (sizes detected from their shapes).

    ``with_text`` / ``with_tracker``: load the text encoder / the tracker's neck. Raises
    :class:`CheckpointError` naming a missing part, or the tensor whose shape is wrong."""
    needed = [IMAGE_ENCODER] + ([TEXT_ENCODER] if with_text else []) + ([TRACKER] if with_tracker else [])
    require_parts(state_dict, path, needed)
    try:
        config = detect_encoder_config(state_dict, with_text=with_text)
    except ConfigError as exc:
        raise CheckpointError(path, f"SAM 3 encoder weights have unexpected shapes: {exc}", SAM3) from exc
    if not with_tracker:
        config = replace(config, neck=replace(config.neck, with_tracker=False))
    with torch.device("meta"):
        encoders = Sam3Encoders(config)
    load_strict(encoders, encoder_state_dict(state_dict, config), path, SAM3, assign=True)
    encoders.eval().requires_grad_(False)
    return encoders.to(device)
