"""The whole SAM 2 / 2.1 network as one module whose parameter names are the official
checkpoint keys, so an official state dict loads strictly.

The image path uses ``image_encoder``, ``sam_prompt_encoder``, ``sam_mask_decoder`` and
``no_mem_embed``. The remaining modules and tensors belong to the video path (memory encoder,
memory attention, object pointers); they are built here, with their shapes, so that every key
of the file has its home and a later video predictor can use this same module.
"""

from __future__ import annotations

import torch
from torch import nn

from model_runtime.models.common.layers import MLP
from model_runtime.models.common.prompt_encoder import PromptEncoder
from model_runtime.models.sam2.config import Sam2Config
from model_runtime.models.sam2.mask_decoder import MaskDecoder
from model_runtime.models.sam2.memory_attention import MemoryAttention
from model_runtime.models.sam2.memory_encoder import MemoryEncoder
from model_runtime.models.sam2.neck import ImageEncoder


class Sam2Network(nn.Module):
    """Keys: ``image_encoder.*``, ``memory_attention.*``, ``memory_encoder.*``,
    ``sam_prompt_encoder.*``, ``sam_mask_decoder.*``, ``obj_ptr_proj.*``, ``mask_downsample``,
    ``maskmem_tpos_enc`` (num_maskmem, 1, 1, 64), ``no_mem_embed`` / ``no_mem_pos_enc`` (1, 1, 256),
    ``no_obj_ptr`` (1, 256); SAM 2.1 also ``no_obj_embed_spatial`` (1, 64) and ``obj_ptr_tpos_proj``.
    """

    def __init__(self, config: Sam2Config) -> None:
        super().__init__()
        self.config = config
        hidden, mem = config.hidden_dim, config.mem_dim
        self.image_encoder = ImageEncoder(config.hiera, config.neck)
        self.memory_attention = MemoryAttention(config.memory_attention)
        self.memory_encoder = MemoryEncoder(config.memory_encoder)
        embedding_size = config.image_size // config.backbone_stride
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=hidden,
            image_embedding_size=(embedding_size, embedding_size),
            input_image_size=(config.image_size, config.image_size),
            mask_in_chans=16,
        )
        self.sam_mask_decoder = MaskDecoder(config.decoder)

        # Video-path tensors (see the module docstring).
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(config.num_maskmem, 1, 1, mem))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, hidden))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, hidden))
        # Turns a mask prompt into SAM-logit scale at stride 4 when a frame is prompted by a mask.
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, hidden))
        self.obj_ptr_proj = MLP(hidden, hidden, hidden, 3)
        if config.no_obj_embed_spatial:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, mem))
        if config.proj_tpos_enc_in_obj_ptrs:
            self.obj_ptr_tpos_proj = nn.Linear(hidden, mem)

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised (B, 3, 1024, 1024) -> the image predictor's features:

        ``image_embed`` (B, 256, 64, 64) stride-16 features with ``no_mem_embed`` added (what a
        first frame without memory sees); ``high_res_s0`` (B, 32, 256, 256) and ``high_res_s1``
        (B, 64, 128, 128): the stride-4/8 levels already through the decoder's ``conv_s0``/``conv_s1``.
        """
        s4, s8, s16 = self.image_encoder(image)
        decoder = self.sam_mask_decoder
        image_embed = s16 + self.no_mem_embed.view(1, -1, 1, 1)
        return {
            "image_embed": image_embed,
            "high_res_s0": decoder.conv_s0(s4),
            "high_res_s1": decoder.conv_s1(s8),
        }
