"""SAM 3's interactive head: clicks, a box or a previous mask -> one object's candidate masks,
as the official ``Sam3Image.predict_inst`` (``SAM3InteractiveImagePredictor.predict``).

It is SAM 2's prompt encoder and mask decoder (keys ``tracker.sam_prompt_encoder.*``,
``tracker.sam_mask_decoder.*``, ``tracker.no_mem_embed``) over the *tracker's* neck levels, at
SAM 3's sizes: a 72×72 image embedding for a 1008² input, 288×288 low-res masks. The rest of
the ``tracker.*`` weights (memory encoder, memory attention, object pointers) serve video and
are not loaded here.

Per image (``image_features``): the tracker's 288² and 144² levels go through the decoder's
``conv_s0`` / ``conv_s1`` (composed into the neck's last convolutions, see ``neck.py``) and are
stored in the upscaling head's block order; the 72² level gets ``no_mem_embed`` added (an image
is a first frame without memory); the decoder's prompt-independent first-block tensors are
precomputed. Per prompt (``predict``): a box becomes two corner points (labels 2, 3) placed
before the clicks; coordinates are scaled by 1008 / W and 1008 / H through the normalised ones.

Post-processing, as the official predictor (``max_hole_area=256``): in each low-res mask, every
background region (logit ≤ 0, 8-connected) of at most 256 pixels is filled (set to 10); the
masks are then upsampled bilinearly to the image size and kept above 0. The returned low-res
logits are the decoder's, before filling, clamped to ±32. (The official code fills holes with a
GPU kernel, or with scikit-image on a CPU when that optional package is installed, and skips the
step with a warning otherwise.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import cv2
import numpy as np
import torch
from torch import nn

from model_runtime.api import Prediction, validate_prompts
from model_runtime.checkpoints import SAM3, CheckpointError, load_strict
from model_runtime.models.common.mask_upsampling import candidate_masks, sam2_plan
from model_runtime.models.common.prompt_encoder import PromptEncoder
from model_runtime.models.common.two_way_transformer import ImageSide
from model_runtime.models.common.upscaling_head import SkipFeatures
from model_runtime.models.sam2.mask_decoder import MaskDecoder, MaskDecoderConfig
from model_runtime.models.sam3.features import NeckFeatures
from model_runtime.models.sam3.transforms import IMAGE_SIZE, transform_points

TRACKER = "tracker."
LOW_RES_CLAMP = 32.0  # the official predictor clamps the returned low-res logits to ±32
BOX_LABELS = (2, 3)  # top-left and bottom-right corner labels
MAX_HOLE_AREA = 256  # the official SAM3InteractiveImagePredictor's max_hole_area
HOLE_FILL_LOGIT = 10.0  # the official "small positive mask score" given to filled holes
BACKBONE_STRIDE = 14

# Keys of ImageEmbedding.features this head writes and reads.
EMBED = "tracker_embed"
SKIP_S0 = "tracker_skip_s0"
SKIP_S1 = "tracker_skip_s1"
SIDE_KEYS = "tracker_decoder_keys"
SIDE_T2I_K = "tracker_decoder_t2i_k"
SIDE_T2I_V = "tracker_decoder_t2i_v"
SIDE_I2T_Q = "tracker_decoder_i2t_q"


class InteractiveHead(nn.Module):
    """Keys (the file's ``tracker.*`` minus that prefix): ``sam_prompt_encoder.*``,
    ``sam_mask_decoder.*``, ``no_mem_embed`` (1, 1, d)."""

    def __init__(self, d_model: int, image_size: int = IMAGE_SIZE) -> None:
        super().__init__()
        self.image_size = image_size
        grid = image_size // BACKBONE_STRIDE
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=d_model,
            image_embedding_size=(grid, grid),
            input_image_size=(image_size, image_size),
            mask_in_chans=16,
        )
        self.sam_mask_decoder = MaskDecoder(
            MaskDecoderConfig(transformer_dim=d_model, transformer_mlp_naming="lin")
        )
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, d_model))
        self._dense_pe: torch.Tensor | None = None
        self._key_pe: torch.Tensor | None = None
        self.register_load_state_dict_post_hook(lambda module, incompatible: module._forget_pe())

    @property
    def mask_size(self) -> int:
        """Side of the low-res masks (288 for 1008² inputs): of ``mask_input`` and the returned logits."""
        return self.sam_prompt_encoder.mask_input_size[0]

    @property
    def neck_heads(self) -> tuple[nn.Conv2d, nn.Conv2d]:
        """The 1×1 convolutions that follow the tracker's 288² and 144² levels (``tracker_heads``
        of ``VisionBackbone``)."""
        return self.sam_mask_decoder.conv_s0, self.sam_mask_decoder.conv_s1

    def _forget_pe(self) -> None:
        self._dense_pe = self._key_pe = None

    def _positional(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's dense positional encoding (1, d, 72, 72) and, as tokens, (1, 72², d)."""
        if self._dense_pe is None or self._key_pe is None:
            dense = self.sam_prompt_encoder.get_dense_pe()
            self._dense_pe = dense
            # Contiguous: a transposed view makes every prompt's decoder slower on CPU.
            self._key_pe = dense.flatten(2).transpose(1, 2).contiguous()
        return self._dense_pe, self._key_pe

    # -- per image ----------------------------------------------------------------------------

    @torch.no_grad()
    def image_features(self, tracker: NeckFeatures) -> dict[str, torch.Tensor]:
        """The tracker's levels *after* ``conv_s0``/``conv_s1`` (``VisionBackbone(...,
        tracker_heads=head.neck_heads)``): (1, d/8, 288²), (1, d/4, 144²), (1, d, 72²) -> the
        tensors :meth:`predict` reads (for an :class:`ImageEmbedding`'s ``features``)."""
        s0, s1, s2 = tracker.backbone_fpn
        decoder = self.sam_mask_decoder
        if s0.shape[1] != decoder.conv_s0.out_channels or s1.shape[1] != decoder.conv_s1.out_channels:
            raise ValueError(
                f"tracker levels of {s0.shape[1]} and {s1.shape[1]} channels: expected them after "
                f"conv_s0/conv_s1 ({decoder.conv_s0.out_channels}, {decoder.conv_s1.out_channels})"
            )
        embed = s2 + self.no_mem_embed.view(1, -1, 1, 1)
        skips = SkipFeatures.from_maps(s0, s1, decoder.output_upscaling)
        dense_pe, _ = self._positional()
        h, w = self.sam_prompt_encoder.image_embedding_size
        no_mask = self.sam_prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, h, w)
        side = decoder.precompute_image(embed, dense_pe, no_mask)
        return {
            EMBED: embed,
            SKIP_S0: skips.s0,
            SKIP_S1: skips.s1,
            SIDE_KEYS: side.keys,
            SIDE_T2I_K: side.token_to_image_k,
            SIDE_T2I_V: side.token_to_image_v,
            SIDE_I2T_Q: side.image_to_token_q,
        }

    # -- per prompt ---------------------------------------------------------------------------

    @torch.no_grad()
    def predict(
        self,
        features: Mapping[str, torch.Tensor],
        original_size: tuple[int, int],
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        """See ``ImageModel.predict``; ``mask_input`` is (1, 288, 288) low-res logits. K = 3
        candidates with ``multimask``, else 1; the best one is made before returning."""
        points, labels, box, mask_input = validate_prompts(points, labels, box, mask_input, self.mask_size)
        low_res, scores = self._decode(features, original_size, points, labels, box, mask_input, multimask)
        filled = fill_small_holes(low_res[0])
        plan = sam2_plan((low_res.shape[-2], low_res.shape[-1]), tuple(original_size))
        scores_np = scores[0].float().cpu().numpy()
        masks = candidate_masks(filled, plan, scores_np)
        low_res = low_res.clamp(-LOW_RES_CLAMP, LOW_RES_CLAMP)
        return Prediction(masks=masks, scores=scores_np, low_res_logits=low_res[0].float().cpu().numpy())

    def _decode(
        self,
        features: Mapping[str, torch.Tensor],
        original_size: tuple[int, int],
        points: np.ndarray | None,
        labels: np.ndarray | None,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> low-res logits (1, K, 288, 288) (unclamped) and scores (1, K)."""
        device = features[EMBED].device
        coords: list[torch.Tensor] = []
        point_labels: list[torch.Tensor] = []
        if box is not None:  # two labelled corners, before the clicks (official order)
            corners = torch.as_tensor(box, dtype=torch.float32, device=device).reshape(1, 2, 2)
            coords.append(transform_points(corners, original_size, self.image_size))
            point_labels.append(torch.tensor([BOX_LABELS], dtype=torch.int32, device=device))
        if points is not None and labels is not None:
            pts = torch.as_tensor(points, dtype=torch.float32, device=device)[None]
            coords.append(transform_points(pts, original_size, self.image_size))
            point_labels.append(torch.as_tensor(labels, dtype=torch.int32, device=device)[None])
        prompt = (torch.cat(coords, dim=1), torch.cat(point_labels, dim=1)) if coords else None
        mask = None
        if mask_input is not None:
            mask = torch.as_tensor(mask_input, dtype=torch.float32, device=device)[None]
        sparse, dense = self.sam_prompt_encoder(points=prompt, boxes=None, masks=mask)
        dense_pe, key_pe = self._positional()
        side = None
        if mask is None and SIDE_KEYS in features:  # the cached tensors assume the no-mask prompt
            side = ImageSide(
                keys=features[SIDE_KEYS],
                key_pe=key_pe,
                token_to_image_k=features[SIDE_T2I_K],
                token_to_image_v=features[SIDE_T2I_V],
                image_to_token_q=features[SIDE_I2T_Q],
            )
        out = self.sam_mask_decoder(
            image_embeddings=features[EMBED],
            image_pe=dense_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=False,
            high_res_features=SkipFeatures(s0=features[SKIP_S0], s1=features[SKIP_S1]),
            image_side=side,
        )
        return out.masks, out.iou


def fill_small_holes(
    low_res: torch.Tensor, max_area: int = MAX_HOLE_AREA, fill: float = HOLE_FILL_LOGIT
) -> torch.Tensor:
    """(K, h, w) logits -> a copy where each 8-connected region of logits ≤ 0 with at most
    ``max_area`` pixels is set to ``fill`` (the official ``postprocess_masks`` hole filling)."""
    out = low_res.detach().to("cpu", torch.float32).clone()
    for k in range(out.shape[0]):
        background = (out[k] <= 0).numpy().astype(np.uint8)
        count, regions, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=8)
        small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] <= max_area) + 1
        if small.size:
            out[k][torch.from_numpy(np.isin(regions, small))] = fill
    return out


def load_interactive_head(
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    d_model: int,
    image_size: int = IMAGE_SIZE,
    device: torch.device | str = "cpu",
) -> InteractiveHead:
    """The head over the file's tracker weights (taken in place, ``assign=True``)."""
    wanted = ("sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed")
    own = {
        key[len(TRACKER) :]: value
        for key, value in state_dict.items()
        if key.startswith(TRACKER) and key[len(TRACKER) :].startswith(wanted)
    }
    embed = own.get("no_mem_embed")
    if embed is None:
        raise CheckpointError(path, "incomplete SAM 3 checkpoint: no tracker.no_mem_embed", SAM3)
    if embed.shape[-1] != d_model:
        raise CheckpointError(
            path, f"tracker width {embed.shape[-1]} does not match the image neck's {d_model}", SAM3
        )
    with torch.device("meta"):
        head = InteractiveHead(d_model, image_size)
    load_strict(head, own, path, SAM3, assign=True)
    head.eval().requires_grad_(False)
    return head.to(device)
