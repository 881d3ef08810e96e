"""SAM 3's encoders as one network: image -> :class:`VisionFeatures`, phrases -> :class:`TextFeatures`.

Keys are the file's ``detector.backbone.*`` without that prefix: ``vision_backbone.trunk.*``
(the ViT), ``vision_backbone.convs.*`` / ``vision_backbone.sam2_convs.*`` (the detector's and
the tracker's necks) and ``language_backbone.*`` (the text encoder), as the official
``SAM3VLBackbone``. Either the text encoder or the tracker's neck may be left out when a use
does not need it (clicks only, or concepts only).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from model_runtime.models.common.resident import release_pages
from model_runtime.models.sam3.config import EncoderConfig
from model_runtime.models.sam3.features import NeckFeatures, TextFeatures, VisionFeatures
from model_runtime.models.sam3.neck import DualNeck
from model_runtime.models.sam3.text_encoder import TextEncoder
from model_runtime.models.sam3.tokenizer import Tokenizer
from model_runtime.models.sam3.transforms import preprocess_image
from model_runtime.models.sam3.vit import ViT

TEXT_CACHE_PHRASES = 128


class VisionBackbone(DualNeck):
    """(B, 3, S, S) normalised image -> :class:`VisionFeatures`.

    Keys: ``trunk``, ``convs``, ``sam2_convs``."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__(config.neck)
        self.trunk = ViT(config.vit)

    @torch.no_grad()
    def forward(
        self,
        image: torch.Tensor,
        with_tracker: bool = True,
        tracker_heads: tuple[nn.Conv2d | None, ...] = (),
    ) -> VisionFeatures:
        """``tracker_heads``: 1×1 convs applied to the tracker's levels (see ``DualNeck.tracker_levels``)."""
        tokens = self.trunk(image)  # (B, C, G, G)
        # The ViT's weights (1.8 GB) are needed again only for the next image: their mapped
        # pages go back to the page cache instead of counting here until then.
        release_pages(self.trunk)
        tracker = None
        if with_tracker and self.sam2_convs is not None:
            tracker = NeckFeatures(backbone_fpn=self.tracker_levels(tokens, tracker_heads))
        return VisionFeatures(backbone_fpn=self.detector_levels(tokens), sam2_backbone_out=tracker)


class Sam3Encoders(nn.Module):
    """The image and text encoders. Keys: ``vision_backbone.*``, ``language_backbone.*``.

    Text features are cached per phrase (the last :data:`TEXT_CACHE_PHRASES` phrases): a
    phrase's features do not depend on the others encoded with it.
    """

    def __init__(self, config: EncoderConfig, tokenizer: Tokenizer | None = None) -> None:
        super().__init__()
        self.config = config
        self.vision_backbone = VisionBackbone(config)
        self.language_backbone = TextEncoder(config.text) if config.text is not None else None
        self._tokenizer = tokenizer
        self._text_cache: OrderedDict[str, TextFeatures] = OrderedDict()

    @property
    def tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            context = self.config.text.context_length if self.config.text else 32
            self._tokenizer = Tokenizer(context_length=context)
        return self._tokenizer

    @property
    def device(self) -> torch.device:
        return self.vision_backbone.trunk.pos_embed.device

    @torch.no_grad()
    def encode_image(self, image: np.ndarray, with_tracker: bool = True) -> VisionFeatures:
        """uint8 (H, W, 3) RGB -> features of the squashed 1008² image (batch of one)."""
        pixels = preprocess_image(image, self.config.image_size)
        dtype = self.vision_backbone.trunk.pos_embed.dtype
        return self.vision_backbone(pixels.to(self.device, dtype), with_tracker=with_tracker)

    @torch.no_grad()
    def forward_text(self, phrases: Sequence[str]) -> TextFeatures:
        """Phrases -> their features as one batch, in order (official ``forward_text``).

        Cached phrases are not encoded again; a phrase longer than the context warns once,
        when it is first encoded (see :class:`Tokenizer`)."""
        if self.language_backbone is None:
            raise RuntimeError("this SAM 3 model was loaded without its text encoder")
        if isinstance(phrases, str):
            phrases = [phrases]
        missing = list(dict.fromkeys(p for p in phrases if p not in self._text_cache))
        if missing:
            tokens = self.tokenizer(missing)
            features = self.language_backbone(tokens.ids.to(self.device))
            for i, phrase in enumerate(missing):
                self._text_cache[phrase] = _detached_copy(features.select(i))
        parts = []
        for phrase in phrases:
            self._text_cache.move_to_end(phrase)
            parts.append(self._text_cache[phrase])
        while len(self._text_cache) > max(TEXT_CACHE_PHRASES, len(phrases)):
            self._text_cache.popitem(last=False)
        return parts[0] if len(parts) == 1 else TextFeatures.concat(parts)

    def clear_text_cache(self) -> None:
        self._text_cache.clear()

    def release_text_pages(self) -> None:
        """Give back the text encoder's mapped pages (~1.3 GB touched at the released size).

        Called when an image is encoded: the ViT's pages then come in, so at most one of the two
        large encoders is resident at a time. Phrases typed on one image keep the text encoder
        resident between them (mapping its pages again costs ~1.4 CPU-s per phrase here)."""
        if self.language_backbone is not None:
            release_pages(self.language_backbone)


def _detached_copy(features: TextFeatures) -> TextFeatures:
    """A phrase's own storage (a view would keep the whole batch alive in the cache)."""
    return TextFeatures(
        language_features=features.language_features.clone(),
        language_mask=features.language_mask.clone(),
        language_embeds=features.language_embeds.clone(),
    )
