"""SAM 2's mask decoder (keys ``sam_mask_decoder.*``).

Differences from SAM 1's decoder: an object-score token and head (is the object present?),
sigmoid IoU scores, high-resolution skip features from the trunk's stride-4 and stride-8 levels
(``conv_s0``/``conv_s1``, applied once per image at encode time), and, when one mask is asked
for, a fall-back to the best multimask candidate if the single-mask output is unstable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.models.common.layers import MLP, LayerNorm2d
from model_runtime.models.common.two_way_transformer import ImageSide, MlpNaming, TwoWayTransformer
from model_runtime.models.common.upscaling_head import (
    SkipFeatures,
    hypernetwork_inputs,
    rows_passing,
    upscale_rows,
)


@dataclass(frozen=True)
class MaskDecoderConfig:
    """Constants of every released SAM 2 / 2.1 model (``sam2_base`` + ``build_sam`` defaults)."""

    transformer_dim: int = 256
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    use_high_res_features: bool = True
    iou_prediction_use_sigmoid: bool = True
    pred_obj_scores: bool = True
    pred_obj_scores_mlp: bool = True
    use_multimask_token_for_obj_ptr: bool = True
    # build_sam's apply_postprocessing=True turns these on for the image and video predictors.
    dynamic_multimask_via_stability: bool = True
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98
    # The two-way transformer's MLP keys: SAM 2's "layers.{0,1}"; SAM 3's tracker, built from
    # the SAM 1 blocks, "lin1"/"lin2".
    transformer_mlp_naming: MlpNaming = "layers"


@dataclass
class DecoderOutput:
    """masks: (B, K, 256, 256) logits; iou: (B, K); sam_tokens: (B, K' , D) the output tokens
    the video path turns into object pointers; object_score_logits: (B, 1)."""

    masks: torch.Tensor
    iou: torch.Tensor
    sam_tokens: torch.Tensor
    object_score_logits: torch.Tensor


class MaskDecoder(nn.Module):
    """image_embeddings (B, D, 64, 64) + image_pe (1, D, 64, 64) + sparse (B, N, D) + dense
    (B, D, 64, 64) + high_res_features (the stride-4/8 maps after conv_s0/conv_s1, in block order:
    :meth:`SkipFeatures.from_maps`) -> DecoderOutput.
    """

    def __init__(self, config: MaskDecoderConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.transformer_dim
        self.transformer = TwoWayTransformer(
            depth=2, embedding_dim=dim, num_heads=8, mlp_dim=2048, mlp_naming=config.transformer_mlp_naming
        )
        self.num_mask_tokens = config.num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        if config.pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        if config.use_high_res_features:
            self.conv_s0 = nn.Conv2d(dim, dim // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(dim, dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(dim, dim, dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            dim,
            config.iou_head_hidden_dim,
            self.num_mask_tokens,
            config.iou_head_depth,
            sigmoid_output=config.iou_prediction_use_sigmoid,
        )
        if config.pred_obj_scores:
            self.pred_obj_score_head: nn.Module = (
                MLP(dim, dim, 1, 3) if config.pred_obj_scores_mlp else nn.Linear(dim, 1)
            )

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        repeat_image: bool,
        high_res_features: SkipFeatures | None = None,
        image_side: ImageSide | None = None,
        min_iou: float | None = None,
    ) -> DecoderOutput:
        """``image_side``: :meth:`precompute_image` of these image embeddings with *these* dense
        embeddings (the no-mask embedding); it replaces the prompt-independent work.
        ``min_iou``: the masks of a prompt none of whose returned IoUs exceeds it are not computed
        (NaN); ignored where the single-mask output is picked by stability (which reads masks)."""
        dynamic = self.config.dynamic_multimask_via_stability and not self.training
        if dynamic and not multimask_output:
            min_iou = None
        # Only the masks that can be returned are computed (the stability rule needs all four).
        wanted = slice(1, None) if multimask_output else slice(None) if dynamic else slice(0, 1)
        masks, iou, mask_tokens_out, object_score_logits = self.predict_masks(
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            repeat_image,
            high_res_features,
            image_side,
            wanted,
            min_iou,
        )
        if multimask_output:
            iou = iou[:, 1:]
        elif dynamic:
            masks, iou = self._dynamic_multimask_via_stability(masks, iou)
        else:
            iou = iou[:, 0:1]
        if multimask_output and self.config.use_multimask_token_for_obj_ptr:
            sam_tokens = mask_tokens_out[:, 1:]
        else:
            # The single-mask token is the object-memory token even after a multimask click:
            # the model was trained tracking with it (see the official comment).
            sam_tokens = mask_tokens_out[:, 0:1]
        return DecoderOutput(masks, iou, sam_tokens, object_score_logits)

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        repeat_image: bool,
        high_res_features: SkipFeatures | None,
        image_side: ImageSide | None = None,
        mask_tokens: slice = slice(None),
        min_iou: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The masks of ``mask_tokens`` (B, K ≤ 4, 256, 256), and for all 4 candidates iou (B, 4),
        mask tokens (B, 4, D); obj (B, 1). Only the masks asked for are computed, and with
        ``min_iou`` only for the prompts with one of those tokens' IoU above it (others NaN)."""
        token_weights = [self.iou_token.weight, self.mask_tokens.weight]
        first = 0
        if self.config.pred_obj_scores:
            token_weights.insert(0, self.obj_score_token.weight)
            first = 1
        output_tokens = torch.cat(token_weights, dim=0)
        batch = sparse_prompt_embeddings.size(0)
        tokens = torch.cat((output_tokens[None].expand(batch, -1, -1), sparse_prompt_embeddings), dim=1)

        h, w = image_embeddings.shape[-2:]
        if image_side is not None:
            hs, src = self.transformer(None, None, tokens, image_side=image_side)
        else:
            if repeat_image:
                src = torch.repeat_interleave(image_embeddings, batch, dim=0)
            else:
                if image_embeddings.shape[0] != batch:
                    raise ValueError(f"{image_embeddings.shape[0]} image embeddings for {batch} prompt sets")
                src = image_embeddings
            src = src + dense_prompt_embeddings
            # The official code repeats the encoding per prompt set; a batch of one needs no copy.
            pos_src = image_pe if batch == 1 else torch.repeat_interleave(image_pe, batch, dim=0)
            hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, first, :]
        mask_tokens_out = hs[:, first + 1 : first + 1 + self.num_mask_tokens, :]

        hyper_in = hypernetwork_inputs(self.output_hypernetworks_mlps, mask_tokens_out, mask_tokens)
        if self.config.use_high_res_features and high_res_features is None:
            raise ValueError("this decoder needs the high-resolution skip features")
        skips = high_res_features if self.config.use_high_res_features else None
        iou = self.iou_prediction_head(iou_token_out)
        rows = rows_passing(iou[:, mask_tokens], min_iou)
        masks = upscale_rows(src, (h, w), self.output_upscaling, hyper_in, skips, rows)

        if self.config.pred_obj_scores:
            object_score_logits = self.pred_obj_score_head(hs[:, 0, :])
        else:
            # No head: "object present" with sigmoid(10) ≈ 1, as the official default.
            object_score_logits = 10.0 * iou.new_ones(iou.shape[0], 1)
        return masks, iou, mask_tokens_out, object_score_logits

    def precompute_image(
        self, image_embeddings: torch.Tensor, image_pe: torch.Tensor, dense_prompt_embeddings: torch.Tensor
    ) -> ImageSide:
        """The prompt-independent part of decoding one image (1, D, 64, 64) for a fixed dense
        prompt (the no-mask embedding): the first transformer block's image projections."""
        return self.transformer.precompute(image_embeddings + dense_prompt_embeddings, image_pe)

    def stability_scores(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """(B, K, H, W) -> (B, K): area(logit > δ) / area(logit > −δ), 1 where the union is empty."""
        flat = mask_logits.flatten(-2)
        delta = self.config.dynamic_multimask_stability_delta
        area_i = torch.sum(flat > delta, dim=-1).float()
        area_u = torch.sum(flat > -delta, dim=-1).float()
        return torch.where(area_u > 0, area_i / area_u, 1.0)

    def _dynamic_multimask_via_stability(
        self, all_masks: torch.Tensor, all_iou: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep the single-mask output (token 0) when it is stable, else the best of tokens 1-3."""
        multi_masks, multi_iou = all_masks[:, 1:], all_iou[:, 1:]
        best = torch.argmax(multi_iou, dim=-1)
        rows = torch.arange(multi_iou.size(0), device=all_iou.device)
        best_masks = multi_masks[rows, best].unsqueeze(1)
        best_iou = multi_iou[rows, best].unsqueeze(1)
        single_masks, single_iou = all_masks[:, 0:1], all_iou[:, 0:1]
        stable = self.stability_scores(single_masks) >= self.config.dynamic_multimask_stability_thresh
        masks = torch.where(stable[..., None, None].expand_as(single_masks), single_masks, best_masks)
        iou = torch.where(stable.expand_as(single_iou), single_iou, best_iou)
        return masks, iou

