"""The tensors SAM 3's encoders hand to the detector and to the interactive (tracker) head.

One field per key of what the official ``SAM3VLBackbone.forward_image`` / ``forward_text``
return, with the same names, so code written against the official dictionaries reads the same:

==========================  ===============================================================
official key                here
==========================  ===============================================================
``backbone_fpn``            :attr:`VisionFeatures.backbone_fpn` (detector neck, finest first)
``vision_pos_enc``          :attr:`VisionFeatures.vision_pos_enc`
``vision_features``         :attr:`VisionFeatures.vision_features` (= ``backbone_fpn[-1]``)
``sam2_backbone_out``       :attr:`VisionFeatures.sam2_backbone_out` (:class:`NeckFeatures`
                            of the tracker's neck, same three keys) or None
``language_features``       :attr:`TextFeatures.language_features`
``language_mask``           :attr:`TextFeatures.language_mask`
``language_embeds``         :attr:`TextFeatures.language_embeds`
==========================  ===============================================================

Shapes for the released model (1008² input, patch 14, ``d_model`` 256, context 32, text width
1024); a reduced test model has the same layout with its own widths. The official backbone drops
the coarsest (36²) neck level (``scalp=1``), so there are three levels: 288², 144², 72².

The sine position encodings depend only on a level's shape, so they are not stored: they are
computed on first access (and kept on the instance), which keeps an embedding's bytes to the
feature maps themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from model_runtime.models.sam3.position_encoding import sine_position_encoding


@dataclass
class NeckFeatures:
    """One neck's output for a batch of images.

    backbone_fpn: finest first, (B, d_model, 288, 288), (B, d_model, 144, 144), (B, d_model, 72, 72)
    """

    backbone_fpn: list[torch.Tensor]
    _pos_enc: list[torch.Tensor] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def vision_features(self) -> torch.Tensor:
        """The coarsest level, (B, d_model, 72, 72): what the fusion encoder attends over."""
        return self.backbone_fpn[-1]

    @property
    def vision_pos_enc(self) -> list[torch.Tensor]:
        """The normalised sine encoding of each level, (B, d_model, H_i, W_i), in the level's dtype.

        Equal to the official ``PositionEmbeddingSine(d_model, normalize=True)`` output; the batch
        dimension is an expanded view (no copy per image)."""
        if self._pos_enc is None:
            self._pos_enc = [
                sine_position_encoding(level.shape[1], (level.shape[-2], level.shape[-1]), level.device)
                .to(level.dtype)
                .expand(level.shape[0], -1, -1, -1)
                for level in self.backbone_fpn
            ]
        return self._pos_enc

    def nbytes(self) -> int:
        """Bytes held by the feature maps (the position encodings are derived, not counted)."""
        return sum(level.element_size() * level.nelement() for level in self.backbone_fpn)


@dataclass
class VisionFeatures(NeckFeatures):
    """``forward_image`` for a batch of images: the detector neck plus, when the tracker part is
    loaded, the tracker neck (``sam2_backbone_out``: the same three levels, its own weights)."""

    sam2_backbone_out: NeckFeatures | None = None

    def nbytes(self) -> int:
        tracker = self.sam2_backbone_out.nbytes() if self.sam2_backbone_out is not None else 0
        return super().nbytes() + tracker


@dataclass
class TextFeatures:
    """``forward_text`` for a batch of B phrases (sequence first, as the official code returns).

    language_features: float (context, B, d_model) = (32, B, 256): encoder output after the resizer
    language_mask:     bool (B, context) = (B, 32): True where a position is padding
    language_embeds:   float (context, B, width) = (32, B, 1024): the token embeddings fed to the
                       encoder (the image detector does not read them; kept for the official layout)
    """

    language_features: torch.Tensor
    language_mask: torch.Tensor
    language_embeds: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.language_mask.shape[0])

    def select(self, index: int) -> TextFeatures:
        """The features of phrase ``index`` alone (B = 1); views, no copy."""
        if not -self.batch_size <= index < self.batch_size:
            raise IndexError(f"phrase {index} of {self.batch_size}")
        i = slice(index, index + 1) if index >= 0 else slice(index, index + 1 or None)
        return TextFeatures(
            language_features=self.language_features[:, i],
            language_mask=self.language_mask[i],
            language_embeds=self.language_embeds[:, i],
        )

    @staticmethod
    def concat(parts: Sequence[TextFeatures]) -> TextFeatures:
        """Several phrases' features as one batch, in order (for one batched detector pass)."""
        if not parts:
            raise ValueError("no text features to concatenate")
        return TextFeatures(
            language_features=torch.cat([p.language_features for p in parts], dim=1),
            language_mask=torch.cat([p.language_mask for p in parts], dim=0),
            language_embeds=torch.cat([p.language_embeds for p in parts], dim=1),
        )

    def nbytes(self) -> int:
        return sum(
            t.element_size() * t.nelement()
            for t in (self.language_features, self.language_mask, self.language_embeds)
        )
