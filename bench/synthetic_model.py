"""A bench-only stand-in with SAM's cost profile, for measuring the runtime before real models land.

Not a segmentation model: random weights, meaningless masks. What matters is that the work has
the same shape as SAM's: a ViT encoder over 64×64 tokens at 1024² input (seconds on a CPU), and
a predict that runs a small decoder, upsamples the embedding to 256² with two transposed
convolutions and resizes three candidate masks to the original image size (what dominates the
official predict time). ``depth``/``dim`` scale the encoder; the defaults take roughly as long
as MobileSAM / SAM 2.1 tiny on a 2-core CPU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.api import ImageEmbedding, ModelInfo, Prediction, validate_image, validate_prompts

IMAGE_SIZE = 1024
PATCH = 16


class SyntheticSamLikeModel:
    def __init__(self, dim: int = 256, depth: int = 6, seed: int = 0):
        torch.manual_seed(seed)
        grid = IMAGE_SIZE // PATCH
        self.patch = nn.Conv2d(3, dim, PATCH, PATCH)
        self.pos = nn.Parameter(torch.randn(1, grid * grid, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, 8, 4 * dim, batch_first=True, dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.point_embed = nn.Linear(2, dim)
        self.tokens = nn.Parameter(torch.randn(1, 4, dim))
        self.cross = nn.MultiheadAttention(dim, 8, batch_first=True)
        self.up1 = nn.ConvTranspose2d(dim, dim // 4, 2, 2)
        self.up2 = nn.ConvTranspose2d(dim // 4, dim // 8, 2, 2)
        self.hyper = nn.Linear(dim, dim // 8)
        modules = [self.patch, self.encoder, self.point_embed, self.cross, self.up1, self.up2, self.hyper]
        self.parameters = [p for m in modules for p in m.parameters()] + [self.pos, self.tokens]
        self.info = ModelInfo(
            "synthetic",
            f"d{dim}x{depth}",
            IMAGE_SIZE,
            sum(p.numel() for p in self.parameters),
            "cpu",
            "synthetic",
        )
        for m in modules:
            m.eval()

    def encode_image(self, image: np.ndarray) -> ImageEmbedding:
        image = validate_image(image)
        h, w = image.shape[:2]
        scale = IMAGE_SIZE / max(h, w)
        nh, nw = round(h * scale), round(w * scale)
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
        x = F.pad((x - 127.5) / 60.0, (0, IMAGE_SIZE - nw, 0, IMAGE_SIZE - nh))
        tokens = self.patch(x).flatten(2).transpose(1, 2) + self.pos  # (1, 4096, dim)
        tokens = self.encoder(tokens)
        grid = IMAGE_SIZE // PATCH
        embed = tokens.transpose(1, 2).reshape(1, -1, grid, grid)
        return ImageEmbedding(self.info.model_id, (h, w), (nh, nw), {"image_embed": embed})

    def predict(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        points, labels, box, mask_input = validate_prompts(points, labels, box, mask_input)
        h, w = embedding.original_size
        nh, nw = embedding.input_size
        embed = embedding.features["image_embed"]  # (1, dim, 64, 64)
        coords = torch.from_numpy(points if points is not None else np.zeros((1, 2), np.float32))
        prompt = self.point_embed(coords[None] / torch.tensor([w, h]))
        queries = torch.cat([self.tokens, prompt], dim=1)
        image_tokens = embed.flatten(2).transpose(1, 2)
        queries = queries + self.cross(queries, image_tokens, image_tokens, need_weights=False)[0]
        up = F.gelu(self.up2(F.gelu(self.up1(embed))))  # (1, dim/8, 256, 256)
        k = 3 if multimask else 1
        weights = self.hyper(queries[:, 1 : 1 + k])  # (1, k, dim/8)
        low = (weights @ up.flatten(2)).reshape(1, k, 256, 256)
        masks = F.interpolate(low, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
        masks = F.interpolate(masks[..., :nh, :nw], size=(h, w), mode="bilinear", align_corners=False)
        scores = torch.sigmoid(queries[0, 0, :k])
        return Prediction(
            masks=(masks[0] > 0).numpy(), scores=scores.float().numpy(), low_res_logits=low[0].float().numpy()
        )
