"""SAM 2 / 2.1 as a ``model_runtime.api.ImageModel``: what ``load_model`` returns for these files.

Behaves like the official ``SAM2ImagePredictor`` (same numbers). Where it is faster: the
image-independent tensors (the decoder's dense positional encoding, Hiera's interpolated position
embedding) are computed once; the decoder's upscaling head runs without pixel shuffles
(``common.upscaling_head``); and masks are upsampled and thresholded straight into a bool array,
interpolating only the pixels near the mask border (``common.mask_upsampling``; the official
predictor interpolates every pixel and also converts every full-size mask to float32 on the
way out).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from model_runtime.api import (
    Capability,
    ImageEmbedding,
    ModelInfo,
    Prediction,
    Prompts,
    check_embedding,
    validate_image,
    validate_prompts,
)
from model_runtime.checkpoints import CheckpointError, load_strict
from model_runtime.devices import resolve_device
from model_runtime.everything.from_clicks import EverythingFromClicks
from model_runtime.fingerprint import weights_fingerprint
from model_runtime.models.common.heap_reuse import reusing_freed_memory
from model_runtime.models.common.mask_upsampling import Plan, candidate_masks, sam2_plan
from model_runtime.models.common.precision import COMPUTE_DTYPES, autocast
from model_runtime.models.common.precision import default_compute_dtype as default_encoder_dtype
from model_runtime.models.common.prompt_batches import decode_click_groups, shape_groups
from model_runtime.models.common.two_way_transformer import ImageSide
from model_runtime.models.common.upscaling_head import SkipFeatures
from model_runtime.models.sam2.config import SAM2, SAM2_1, Sam2Config, detect_variant, make_config
from model_runtime.models.sam2.network import Sam2Network
from model_runtime.models.sam2.transforms import preprocess_image, transform_points
from model_runtime.models.sam2.video import VideoConfig, VideoSession
from model_runtime.models.sam2.video_features import SharedEmbeddings, as_embedding, encode_frame

ENCODER_DTYPES = COMPUTE_DTYPES
LOW_RES_CLAMP = 32.0  # the official predictor clamps the returned 256² logits to ±32
BOX_LABELS = (2, 3)  # top-left and bottom-right corner labels in SAM 2's prompt encoder


class Sam2ImageModel(EverythingFromClicks):
    """SAM 2 / 2.1 image segmentation over one :class:`Sam2Network`.

    Precision (``info.compute_dtype``), decided here, not by the runtime: ``encoder_dtype``
    "bfloat16" runs the image encoder under bf16 autocast (the official demos do, on GPUs) and
    returns its features as float32; "float32" runs it exactly. The default
    (:func:`default_encoder_dtype`) is bf16 on a CUDA GPU that supports it, float32 elsewhere
    (on CPU/MPS bf16 brings no speed). The mask decoder always runs in float32; a video
    session stores its memory features in bf16 (as the official code does) and computes the
    rest in float32.
    """

    def __init__(
        self,
        network: Sam2Network,
        device: torch.device,
        source: str = "",
        encoder_dtype: str | None = None,
    ) -> None:
        encoder_dtype = default_encoder_dtype(device) if encoder_dtype is None else encoder_dtype
        if encoder_dtype not in ENCODER_DTYPES:
            raise ValueError(f"SAM 2 encodes in float32 or bfloat16, not {encoder_dtype!r}")
        weights = weights_fingerprint(network.state_dict())  # before .to(device): read on the CPU
        self.network = network.eval().to(device)
        self.config: Sam2Config = network.config
        self.device = device
        self.encoder_dtype = encoder_dtype
        self.info = ModelInfo(
            family=self.config.family,
            variant=self.config.variant,
            image_size=self.config.image_size,
            parameter_count=sum(p.numel() for p in network.parameters()),
            device=str(device),
            source=source,
            capabilities=frozenset({Capability.CLICK, Capability.VIDEO, Capability.EVERYTHING}),
            weights=weights,
            compute_dtype=encoder_dtype,
        )
        with torch.no_grad():
            self._dense_pe = network.sam_prompt_encoder.get_dense_pe().to(device)
            # Contiguous: a transposed view makes every prompt's decoder ~10 ms slower on CPU.
            self._key_pe = self._dense_pe.flatten(2).transpose(1, 2).contiguous()  # (1, HW, D)

    def compilable_modules(self) -> dict[str, tuple[torch.nn.Module, bool]]:
        """What ``--compile`` compiles (``models.common.compilation``): the image encoder
        (fixed shapes) and the video path's memory attention (its memory grows: dynamic)."""
        return {
            "image_encoder": (self.network.image_encoder, False),
            "memory_attention": (self.network.memory_attention, True),
        }

    # -- encoding ---------------------------------------------------------------------------

    @torch.no_grad()
    def encode_image(self, image: np.ndarray) -> ImageEmbedding:
        """image: uint8 (H, W, 3) RGB -> embedding with ``image_embed`` (1, 256, 64, 64), the
        decoder's skip features ``skip_s0`` (1, 65536, 32) and ``skip_s1`` (1, 16384, 64) (the
        stride-4/8 maps in block order, see :class:`SkipFeatures`) on the model device, plus the
        decoder's prompt-independent first-block tensors (``decoder_*``, see :meth:`_image_side`)
        that make every prompt without a mask input cheaper."""
        image = validate_image(image)
        size = self.config.image_size
        x = preprocess_image(image, size).to(self.device)
        with autocast(self.device, self.encoder_dtype):
            features = self.network.encode(x)
        image_embed = features["image_embed"].float()
        skips = SkipFeatures.from_maps(
            features["high_res_s0"].float(),
            features["high_res_s1"].float(),
            self.network.sam_mask_decoder.output_upscaling,
        )
        features = {"image_embed": image_embed, "skip_s0": skips.s0, "skip_s1": skips.s1}
        features.update(self._precompute_decoder(image_embed))
        return ImageEmbedding(
            model_id=self.info.model_id,
            original_size=(int(image.shape[0]), int(image.shape[1])),
            input_size=(size, size),
            features=features,
        )

    def _precompute_decoder(self, image_embed: torch.Tensor) -> dict[str, torch.Tensor]:
        """The first decoder block's image projections for the no-mask dense prompt."""
        prompt_encoder = self.network.sam_prompt_encoder
        h, w = prompt_encoder.image_embedding_size
        no_mask = prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, h, w)
        side = self.network.sam_mask_decoder.precompute_image(image_embed, self._dense_pe, no_mask)
        return {
            "decoder_keys": side.keys,
            "decoder_t2i_k": side.token_to_image_k,
            "decoder_t2i_v": side.token_to_image_v,
            "decoder_i2t_q": side.image_to_token_q,
        }

    def _image_side(self, features: dict[str, torch.Tensor]) -> ImageSide | None:
        if "decoder_keys" not in features:
            return None
        return ImageSide(
            keys=features["decoder_keys"].contiguous(),  # a no-op unless from an older cache
            key_pe=self._key_pe,
            token_to_image_k=features["decoder_t2i_k"],
            token_to_image_v=features["decoder_t2i_v"],
            image_to_token_q=features["decoder_i2t_q"],
        )

    # -- video ------------------------------------------------------------------------------

    def open_video(
        self, source, config: VideoConfig | None = None, shared: SharedEmbeddings | None = None
    ) -> VideoSession:
        """A video session over this model's weights: ``source`` is a video file, a folder of
        frames, or a sequence of uint8 RGB arrays (see :mod:`model_runtime.models.sam2.video`).
        ``shared``: the embeddings of this video's frames kept by the caller, by frame; the
        session reads those made by :meth:`encode_video_frame` and adds the frames it encodes."""
        model_id = self.info.model_id
        return VideoSession(self.network, self.device, source, config, shared=shared, model_id=model_id)

    @torch.no_grad()
    def encode_video_frame(self, image: np.ndarray) -> ImageEmbedding:
        """A video frame (uint8 (H, W, 3) RGB) encoded as tracking encodes it (the video
        preprocessing, float32), for clicks: the same features serve a tracking run on that
        frame (:mod:`~model_runtime.models.sam2.video_features`). Has the decoder's
        prompt-independent tensors as :meth:`encode_image`'s embedding does."""
        image = validate_image(image)
        features = encode_frame(self.network, image, self.device)
        embedding = as_embedding(features, self.network, self.info.model_id, image.shape[:2])
        embedding.features.update(self._precompute_decoder(embedding.features["image_embed"]))
        return embedding

    # -- prompting --------------------------------------------------------------------------

    @torch.no_grad()
    def predict(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        """See ``ImageModel.predict``. K = 3 candidate masks with ``multimask``, else 1; the best
        one is made before returning, the others when read (``CandidateMasks``)."""
        check_embedding(embedding, self.info)
        prompt = self._prompt_tensors(embedding, *validate_prompts(points, labels, box, mask_input))
        low_res, scores = self._decode(embedding, [prompt], multimask)
        return self._prediction(embedding, low_res[0], scores[0], make_best=True)

    @torch.no_grad()
    def predict_batch(
        self, embedding: ImageEmbedding, prompts: Sequence[Prompts], multimask: bool = True
    ) -> list[Prediction]:
        """One :class:`Prediction` per prompt set, as ``predict`` gives, from one decoder pass per
        group of equally shaped prompt sets. No mask is made until it is read."""
        check_embedding(embedding, self.info)
        results: list[Prediction | None] = [None] * len(prompts)
        with reusing_freed_memory():  # groups reuse each other's pages
            for group in shape_groups(prompts):
                encoded = [self._prompt_tensors(embedding, *validate_prompts(**prompts[i].click_arrays()))
                           for i in group]
                low_res, scores = self._decode(embedding, encoded, multimask)
                for j, i in enumerate(group):
                    results[i] = self._prediction(embedding, low_res[j], scores[j], make_best=False)
        return [r for r in results if r is not None]

    @torch.no_grad()
    def decode_clicks(
        self, embedding: ImageEmbedding, points: np.ndarray, multimask: bool = True,
        min_score: float | None = None,
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Single foreground clicks, points float (N, 2) in image pixels -> low-res logits
        float32 (N, K, 256, 256) on the CPU, *unclamped* (what the official predictor upsamples
        into its masks), and scores float32 (N, K), in groups of ``MAX_BATCH`` decoder passes,
        with no :class:`Prediction` per click (segment everything's grid). ``min_score``: the
        logits of a click none of whose K scores exceeds it are not computed (NaN)."""
        check_embedding(embedding, self.info)
        return decode_click_groups(
            points, multimask, self.config.image_size // 4,
            lambda point, label: self._prompt_tensors(embedding, point, label, None, None),
            lambda group: self._decode(embedding, group, multimask, min_score),
        )

    def _prediction(
        self, embedding: ImageEmbedding, low_res: torch.Tensor, scores: torch.Tensor, make_best: bool
    ) -> Prediction:
        """(K, 256, 256) unclamped logits and (K,) scores -> the Prediction (masks on first read)."""
        scores_np = scores.float().cpu().numpy()
        masks = candidate_masks(low_res, self.mask_plan(embedding), scores_np, make_best)  # before the clamp
        clamped = low_res.clamp(-LOW_RES_CLAMP, LOW_RES_CLAMP)
        return Prediction(masks=masks, scores=scores_np, low_res_logits=clamped.float().cpu().numpy())

    def mask_plan(self, embedding: ImageEmbedding) -> Plan:
        """How this model's low-res logits become masks of the encoded image's size."""
        low = self.config.image_size // 4
        return sam2_plan((low, low), tuple(embedding.original_size))


    def _prompt_tensors(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
    ) -> _PromptTensors:
        """One prompt set in the model's input frame: coords (1, N, 2), labels (1, N), mask."""
        size = self.config.image_size
        original = embedding.original_size
        coords_parts: list[torch.Tensor] = []
        label_parts: list[torch.Tensor] = []
        # A box is two labelled corner points placed *before* the clicks (official order).
        if box is not None:
            corners = torch.as_tensor(box, dtype=torch.float32, device=self.device).reshape(1, 2, 2)
            coords_parts.append(transform_points(corners, original, size))
            label_parts.append(torch.tensor([BOX_LABELS], dtype=torch.int32, device=self.device))
        if points is not None and labels is not None:
            pts = torch.as_tensor(points, dtype=torch.float32, device=self.device)[None]
            coords_parts.append(transform_points(pts, original, size))
            label_parts.append(torch.as_tensor(labels, dtype=torch.int32, device=self.device)[None])
        mask = (
            torch.as_tensor(mask_input, dtype=torch.float32, device=self.device)[None]
            if mask_input is not None
            else None
        )
        if not coords_parts:
            return _PromptTensors(None, None, mask)
        return _PromptTensors(torch.cat(coords_parts, dim=1), torch.cat(label_parts, dim=1), mask)

    def _decode(
        self, embedding: ImageEmbedding, prompts: Sequence[_PromptTensors], multimask: bool,
        min_score: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt sets of one shape -> low-res logits (B, K, 256, 256) (unclamped), scores (B, K);
        ``min_score``: see :meth:`decode_clicks`."""
        first = prompts[0]
        points = None
        if first.coords is not None:
            points = (torch.cat([p.coords for p in prompts]), torch.cat([p.labels for p in prompts]))
        mask = torch.cat([p.mask for p in prompts]) if first.mask is not None else None
        sparse, dense = self.network.sam_prompt_encoder(points=points, boxes=None, masks=mask)
        features = embedding.features
        out = self.network.sam_mask_decoder(
            image_embeddings=features["image_embed"],
            image_pe=self._dense_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=len(prompts) > 1,
            high_res_features=SkipFeatures(s0=features["skip_s0"], s1=features["skip_s1"]),
            # The cached first-block tensors assume the no-mask dense prompt.
            image_side=self._image_side(features) if mask is None else None,
            min_iou=min_score,
        )
        return out.masks, out.iou


@dataclass(frozen=True)
class _PromptTensors:
    """One prompt set in the model's input frame (box corners first, then clicks)."""

    coords: torch.Tensor | None  # (1, N, 2)
    labels: torch.Tensor | None  # (1, N)
    mask: torch.Tensor | None  # (1, 1, 256, 256)


def from_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    *,
    family: str,
    path: str | os.PathLike[str],
    device: str | torch.device | None = None,
) -> Sam2ImageModel:
    """Build the SAM 2 / 2.1 model a checkpoint holds; the size is detected from tensor shapes.

    Every key of the file is loaded (strictly): the video-path weights too.
    """
    if family not in (SAM2, SAM2_1):
        raise CheckpointError(path, f"not a SAM 2 family: {family!r}", family)
    variant = detect_variant(state_dict)
    if variant is None:
        weight = state_dict.get("image_encoder.trunk.patch_embed.proj.weight")
        width = tuple(weight.shape) if weight is not None else None
        raise CheckpointError(
            path,
            f"unknown Hiera size (patch embedding {width}); expected tiny, small, base+ or large",
            family,
        )
    network = Sam2Network(make_config(family, variant))
    load_strict(network, state_dict, path, family)
    return Sam2ImageModel(network, resolve_device(device), source=str(path))
