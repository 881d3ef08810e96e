"""SAM 1's mask decoder (also MobileSAM's): a two-way transformer over prompt and image tokens,
then hypernetwork heads that turn each mask token into a 256×256 mask, and an IoU head.

Keys (prefix ``mask_decoder.``)::

    transformer.*                               two-way transformer (MLP named lin1/lin2)
    iou_token.weight (1, D), mask_tokens.weight (4, D)
    output_upscaling.{0,1,3}       ConvT D->D/4 (2×), LayerNorm2d, [GELU], ConvT D/4->D/8 (2×), [GELU]
    output_hypernetworks_mlps.{0..3}.layers.{0,1,2}   MLP D->D->D->D/8
    iou_prediction_head.layers.{0,1,2}          MLP D->256->256->4
"""

from __future__ import annotations

import torch
from torch import nn

from model_runtime.models.common.layers import MLP, LayerNorm2d
from model_runtime.models.common.two_way_transformer import ImageSide, TwoWayTransformer
from model_runtime.models.common.upscaling_head import hypernetwork_inputs, rows_passing, upscale_rows


class MaskDecoder(nn.Module):
    """Predicts 4 masks (token 0: single-mask output, tokens 1-3: the multimask candidates)."""

    def __init__(
        self,
        transformer_dim: int = 256,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        d = transformer_dim
        self.transformer_dim = d
        self.transformer = TwoWayTransformer(
            depth=2, embedding_dim=d, num_heads=8, mlp_dim=2048, mlp_naming="lin"
        )
        self.num_multimask_outputs = num_multimask_outputs
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, d)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, d)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(d, d // 4, kernel_size=2, stride=2),
            LayerNorm2d(d // 4),
            nn.GELU(),
            nn.ConvTranspose2d(d // 4, d // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(d, d, d // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(d, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        image_side: ImageSide | None = None,
        min_iou: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """image_embeddings (1, D, 64, 64), image_pe (1, D, 64, 64), sparse (B, N, D),
        dense (B, D, 64, 64) -> masks (B, K, 256, 256) logits, iou (B, K);
        K = 3 (tokens 1-3) with ``multimask_output``, else 1 (token 0).

        ``image_side``: :meth:`precompute` of the same image and dense prompt; saves the
        prompt-independent work (the image and dense arguments are then not read).
        ``min_iou``: the masks of a prompt none of whose K IoUs exceeds it are not computed (NaN)."""
        select = slice(1, None) if multimask_output else slice(0, 1)
        masks, iou = self.predict_masks(
            image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings, image_side, select,
            min_iou,
        )
        return masks, iou[:, select]

    def precompute(
        self, image_embeddings: torch.Tensor, image_pe: torch.Tensor, dense_prompt_embeddings: torch.Tensor
    ) -> ImageSide:
        """Prompt-independent work for one image and one dense prompt (all batch 1)."""
        return self.transformer.precompute(image_embeddings + dense_prompt_embeddings, image_pe)

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        image_side: ImageSide | None = None,
        mask_tokens: slice = slice(None),
        min_iou: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The masks of ``mask_tokens`` (B, K ≤ 4, 256, 256) and all IoU predictions (B, 4);
        only the masks asked for are computed, and with ``min_iou`` only for the prompts with
        one of those tokens' IoU above it (the others' masks are NaN)."""
        b = sparse_prompt_embeddings.shape[0]
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([output_tokens[None].expand(b, -1, -1), sparse_prompt_embeddings], dim=1)
        h, w = image_embeddings.shape[-2:]
        if image_side is None:
            src = image_embeddings + dense_prompt_embeddings
            hs, src = self.transformer(src, image_pe.expand(b, -1, -1, -1), tokens)
        else:
            hs, src = self.transformer(None, None, tokens, image_side=image_side)
        iou_token_out = hs[:, 0]
        mask_tokens_out = hs[:, 1 : 1 + self.num_mask_tokens]
        hyper_in = hypernetwork_inputs(self.output_hypernetworks_mlps, mask_tokens_out, mask_tokens)
        iou = self.iou_prediction_head(iou_token_out)
        rows = rows_passing(iou[:, mask_tokens], min_iou)
        masks = upscale_rows(src, (h, w), self.output_upscaling, hyper_in, None, rows)
        return masks, iou

