"""The zero-download default backend: OpenCV GrabCut seeded by the user's box and clicks.

Works without any checkpoint so a fresh install can annotate at once. GrabCut fits two colour
mixture models (object / background) and cuts the image graph between them; the prompts become
its seeds:

- box: outside = sure background, inside = probably object. A box always holds an object, so
  when the cut finds none there it tries again: first with a band just outside the box
  (``box_pad``) only probably background, since a box drawn snugly leaves the object's edge on
  "sure background"; then with the box's central third as sure object too (the object's colours
  match the background's, e.g. a paper bag between paper bags);
- positive click: a small disc of sure object; negative click: a disc of sure background;
- clicks without a box: a region is grown around the positive clicks at three sizes (part,
  object, surroundings), which gives the three candidates, like SAM's multimask output;
- ``mask_input`` (low-res logits of an earlier call): its inside/outside become the
  probably-object / probably-background seeds, so refinement starts from the last answer.

All work happens on a copy whose longest side is ``work_side`` (320) and only inside the crop
around the prompt, so a predict stays well under a second on large photos; masks are upsampled
to the original size at the end.

Low-res logits use SAM 1's frame: the image scaled so its longest side is 256, at the top-left
of a 256×256 grid, the rest padding. Values are the mask's signed distance in low-res pixels
(positive inside), clipped to ±20, so thresholding at 0 gives back the mask.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import cv2
import numpy as np

from model_runtime.api import (
    Capability,
    ImageEmbedding,
    ModelInfo,
    Prediction,
    PromptError,
    check_embedding,
    validate_image,
    validate_prompts,
)

LOW_RES = 256
LOGIT_LIMIT = 20.0
NEG_TOLERANCE = 18  # per-channel colour distance a negative click's patch may span


@dataclass(frozen=True)
class GrabCutConfig:
    """Tuning of the classical backend. Fractions are of the working copy's longest side."""

    work_side: int = 320
    iterations: int = 3  # GrabCut rounds (colour model refits)
    click_radius: float = 0.012  # sure-object / sure-background disc around a click
    click_scales: tuple[float, float, float] = (0.06, 0.13, 0.25)  # grown region half-sizes
    crop_margin: float = 0.08  # background context kept around the region of interest
    box_pad: float = 0.03  # band around a box that is only probably background (snug boxes)
    max_candidates: int = 3


@dataclass(frozen=True)
class ClassicalInfo(ModelInfo):
    """ModelInfo whose display name tells the user this backend needs no download."""

    @property
    def display_name(self) -> str:
        return "Classical (GrabCut) — no download"


@dataclass
class _Candidate:
    mask: np.ndarray  # bool (h, w) at working size
    score: float


class GrabCutModel:
    """An :class:`~model_runtime.api.ImageModel` built on OpenCV GrabCut."""

    def __init__(self, config: GrabCutConfig | None = None):
        self.config = config or GrabCutConfig()
        self.info = ClassicalInfo(
            family="classical",
            variant="grabcut",
            image_size=self.config.work_side,
            parameter_count=0,
            device="cpu",
            source="",
            capabilities=frozenset({Capability.CLICK}),
        )

    def encode_image(self, image: np.ndarray) -> ImageEmbedding:
        """image: uint8 (H, W, 3) RGB.

        Features: ``work`` uint8 (h, w, 3) downscaled copy (longest side ≤ work_side);
        ``gradient`` float32 (h, w) colour gradient magnitude in Lab, for scoring boundaries;
        ``scale`` float64 (2,) = (w / W, h / H).
        """
        image = validate_image(image)
        height, width = image.shape[:2]
        factor = min(1.0, self.config.work_side / max(height, width))
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        work = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if factor < 1.0 else image.copy()
        lab = cv2.cvtColor(work, cv2.COLOR_RGB2LAB).astype(np.float32)
        gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3)
        gradient = np.sqrt((gx * gx + gy * gy).sum(axis=2)).astype(np.float32)
        scale = np.array([work.shape[1] / width, work.shape[0] / height], dtype=np.float64)
        return ImageEmbedding(
            model_id=self.info.model_id,
            original_size=(height, width),
            input_size=(work.shape[0], work.shape[1]),
            features={"work": work, "gradient": gradient, "scale": scale},
        )

    def predict(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        """Masks bool (K, H, W), scores float32 (K,) in [0, 1), low_res_logits float32
        (K, 256, 256); K = 3 with ``multimask``, else 1. Candidates are sorted best first."""
        points, labels, box, mask_input = validate_prompts(points, labels, box, mask_input)
        check_embedding(embedding, self.info)
        work: np.ndarray = embedding.features["work"]
        gradient: np.ndarray = embedding.features["gradient"]
        scale: np.ndarray = embedding.features["scale"]
        h, w = work.shape[:2]
        side = max(h, w)
        pos = neg = np.zeros((0, 2), dtype=np.float64)
        if points is not None and labels is not None:
            scaled = points.astype(np.float64) * scale
            pos, neg = scaled[labels == 1], scaled[labels == 0]
        box_w = None if box is None else _order_box(box.astype(np.float64) * np.tile(scale, 2), h, w)
        prior = None
        if mask_input is not None:
            prior = _low_res_to_work(mask_input[0], embedding.original_size, (h, w)) > 0
        if box_w is None and len(pos) == 0 and (prior is None or not prior.any()):
            raise PromptError("give a box, a positive click or a non-empty mask_input")

        radius = max(2, round(self.config.click_radius * side))
        candidates: list[_Candidate] = []
        if box_w is not None or prior is not None:
            region = box_w if box_w is not None else _bbox(prior, pos, margin=0.05 * side, h=h, w=w)
            region = _union(region, pos, h, w)
            init = np.full((h, w), cv2.GC_BGD, dtype=np.uint8)
            x0, y0, x1, y1 = region
            if prior is not None:
                inside = np.where(prior[y0:y1, x0:x1], cv2.GC_PR_FGD, cv2.GC_PR_BGD)
                init[y0:y1, x0:x1] = inside.astype(np.uint8)
            else:
                init[y0:y1, x0:x1] = cv2.GC_PR_FGD
            _draw_clicks(init, pos, neg, radius, work)
            final = self._box_cut(work, init, region, box_w is not None)
            masks = [_clean(final, pos, neg), final]
            if multimask and prior is None:
                # A second reading of the box: objects rarely fill its corners, so only the
                # inscribed ellipse is "probably object" and the corners teach GrabCut what the
                # background inside the box looks like (floor around a dog, road under a car).
                init[y0:y1, x0:x1] = cv2.GC_PR_BGD
                centre = ((x0 + x1) // 2, (y0 + y1) // 2)
                axes = (max(1, (x1 - x0) // 2), max(1, (y1 - y0) // 2))
                cv2.ellipse(init, centre, axes, 0, 0, 360, int(cv2.GC_PR_FGD), -1)
                _draw_clicks(init, pos, neg, radius, work)
                masks.append(_clean(self._box_cut(work, init, region, box_w is not None), pos, neg))
            crop = self._crop(region, h, w)
            for mask in masks:
                candidates.append(_Candidate(mask, _score(mask, gradient, crop, pos, neg)))
        else:
            scales = self.config.click_scales if multimask else (self.config.click_scales[1],)
            for fraction in scales:
                grow = fraction * side
                region = _bbox(None, pos, margin=grow, h=h, w=w)
                # Around the grown region only the crop's outer ring is sure background, so an
                # object larger than the region is not cut straight along the region's edges.
                init = np.full((h, w), cv2.GC_BGD, dtype=np.uint8)
                cx0, cy0, cx1, cy1 = self._crop(region, h, w)
                init[cy0 + 1 : cy1 - 1, cx0 + 1 : cx1 - 1] = cv2.GC_PR_BGD
                for x, y in pos:
                    cv2.circle(
                        init, (round(x), round(y)), max(radius + 1, round(grow * 0.5)), int(cv2.GC_PR_FGD), -1
                    )
                _draw_clicks(init, pos, neg, radius, work)
                final = self._grabcut(work, init, region)
                mask = _clean(final, pos, neg)
                crop = self._crop(region, h, w)
                candidates.append(_Candidate(mask, _score(mask, gradient, crop, pos, neg)))

        candidates.sort(key=lambda c: c.score, reverse=True)
        keep = min(self.config.max_candidates, len(candidates)) if multimask else 1
        chosen = candidates[:keep]
        height, width = embedding.original_size
        masks = np.stack([_upsample(c.mask, (height, width)) for c in chosen])
        logits = np.stack([_low_res_logits(c.mask, (height, width)) for c in chosen])
        scores = np.array([c.score for c in chosen], dtype=np.float32)
        return Prediction(masks=masks, scores=scores, low_res_logits=logits)

    def _crop(self, region: tuple[int, int, int, int], h: int, w: int) -> tuple[int, int, int, int]:
        """The region of interest plus background context, clipped to the image."""
        margin = max(6, round(self.config.crop_margin * max(h, w)))
        x0, y0, x1, y1 = region
        return max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)

    def _box_cut(
        self, work: np.ndarray, init: np.ndarray, region: tuple[int, int, int, int], boxed: bool
    ) -> np.ndarray:
        """:meth:`_grabcut`; for a box (``boxed``) that came out empty, again with a padded box,
        then also with its central third as sure object (see the module docstring): the user
        boxed an object, so "nothing" is never the answer."""
        found = self._grabcut(work, init, region)
        if found.any() or not boxed:
            return found
        h, w = work.shape[:2]
        x0, y0, x1, y1 = region
        pad = max(2, round(self.config.box_pad * max(h, w)))
        padded = init.copy()
        ring = padded[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]
        ring[ring == cv2.GC_BGD] = cv2.GC_PR_BGD
        padded[y0:y1, x0:x1] = init[y0:y1, x0:x1]  # a negative click's sure background stays
        found = self._grabcut(work, padded, region)
        if found.any():
            return found
        core = padded[y0 + (y1 - y0) // 3 : y1 - (y1 - y0) // 3, x0 + (x1 - x0) // 3 : x1 - (x1 - x0) // 3]
        core[core != cv2.GC_BGD] = cv2.GC_FGD
        return self._grabcut(work, padded, region)

    def _grabcut(self, work: np.ndarray, init: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
        """Run GrabCut on the crop around ``region``, seeded by the GC_* labels in ``init``
        (h, w); return the object as a bool (h, w) mask of the whole working image."""
        h, w = work.shape[:2]
        cx0, cy0, cx1, cy1 = self._crop(region, h, w)
        crop = np.ascontiguousarray(work[cy0:cy1, cx0:cx1])
        labels = init[cy0:cy1, cx0:cx1].copy()
        out = np.zeros((h, w), dtype=bool)
        is_fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        if not is_fg.any():
            return out
        if is_fg.all():
            # GrabCut needs background samples: a box covering the whole image leaves none,
            # so the crop's outer ring becomes probable background.
            labels[[0, -1], :] = np.where(labels[[0, -1], :] == cv2.GC_FGD, cv2.GC_FGD, cv2.GC_PR_BGD)
            labels[:, [0, -1]] = np.where(labels[:, [0, -1]] == cv2.GC_FGD, cv2.GC_FGD, cv2.GC_PR_BGD)
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        # GrabCut starts its colour models from k-means on OpenCV's (per-thread) random number
        # generator: seeded here, the same prompts always give the same mask.
        cv2.setRNGSeed(0)
        # Degenerate seeds (e.g. a crop of one flat colour) make GrabCut fail; the seeds are
        # then the answer.
        with contextlib.suppress(cv2.error):
            cv2.grabCut(crop, labels, None, bgd, fgd, self.config.iterations, cv2.GC_INIT_WITH_MASK)
        out[cy0:cy1, cx0:cx1] = _foreground(labels)
        return out


def _foreground(labels: np.ndarray) -> np.ndarray:
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def _order_box(box: np.ndarray, h: int, w: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) working-pixel box, ordered, clipped, at least 2 px on each side."""
    x0, x1 = sorted((box[0], box[2]))
    y0, y1 = sorted((box[1], box[3]))
    x0, y0 = int(np.clip(np.floor(x0), 0, w - 1)), int(np.clip(np.floor(y0), 0, h - 1))
    x1, y1 = int(np.clip(np.ceil(x1), x0 + 2, w)), int(np.clip(np.ceil(y1), y0 + 2, h))
    return x0, y0, x1, y1


def _bbox(
    mask: np.ndarray | None, points: np.ndarray, margin: float, h: int, w: int
) -> tuple[int, int, int, int]:
    """Bounding box of a mask's pixels and points, grown by ``margin`` and clipped."""
    xs: list[float] = list(points[:, 0]) if len(points) else []
    ys: list[float] = list(points[:, 1]) if len(points) else []
    if mask is not None and mask.any():
        rows, cols = np.nonzero(mask)
        xs += [cols.min(), cols.max() + 1]
        ys += [rows.min(), rows.max() + 1]
    box = np.array([min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin])
    return _order_box(box, h, w)


def _union(
    region: tuple[int, int, int, int], points: np.ndarray, h: int, w: int
) -> tuple[int, int, int, int]:
    """Grow ``region`` to include positive clicks placed outside it."""
    if len(points) == 0:
        return region
    x0, y0, x1, y1 = region
    box = np.array(
        [
            min(x0, points[:, 0].min() - 2),
            min(y0, points[:, 1].min() - 2),
            max(x1, points[:, 0].max() + 2),
            max(y1, points[:, 1].max() + 2),
        ]
    )
    return _order_box(box, h, w)


def _draw_clicks(labels: np.ndarray, pos: np.ndarray, neg: np.ndarray, radius: int, work: np.ndarray) -> None:
    for x, y in pos:
        cv2.circle(labels, (round(x), round(y)), radius, int(cv2.GC_FGD), -1)
    # Negative clicks are drawn last: the user means "not this", which must win. A bare disc
    # barely moves GrabCut's colour models, so the click also claims the similar-coloured
    # patch it sits on (flood fill within a window), which is what the user points at.
    h, w = labels.shape
    reach = radius * 8
    for x, y in neg:
        xi, yi = int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1))
        x0, y0 = max(0, xi - reach), max(0, yi - reach)
        x1, y1 = min(w, xi + reach + 1), min(h, yi + reach + 1)
        window = np.ascontiguousarray(work[y0:y1, x0:x1])
        filled = np.zeros((y1 - y0 + 2, x1 - x0 + 2), np.uint8)
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
        cv2.floodFill(
            window, filled, (xi - x0, yi - y0), (0, 0, 0), (NEG_TOLERANCE,) * 3, (NEG_TOLERANCE,) * 3, flags
        )
        labels[y0:y1, x0:x1][filled[1:-1, 1:-1] > 0] = cv2.GC_BGD
        cv2.circle(labels, (xi, yi), radius * 2, int(cv2.GC_BGD), -1)


def _clean(mask: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Keep the connected parts the user pointed at (or the largest), fill small holes that
    no negative click asked for."""
    if not mask.any():
        return mask
    count, components, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    h, w = mask.shape
    for x, y in pos:
        xi, yi = int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1))
        keep[components[yi, xi]] = True
    keep[0] = False
    if not keep.any():
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep[1 + int(np.argmax(areas))] = True
    cleaned = keep[components]
    holes = ~cleaned
    count, components, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    limit = 0.01 * cleaned.sum()
    wanted_holes = {
        int(components[int(np.clip(round(y), 0, h - 1)), int(np.clip(round(x), 0, w - 1))]) for x, y in neg
    }
    for index in range(1, count):
        x, y, bw, bh, area = stats[index]
        touches_border = x == 0 or y == 0 or x + bw == w or y + bh == h
        if not touches_border and area <= limit and index not in wanted_holes:
            cleaned[components == index] = True
    return cleaned


def _score(
    mask: np.ndarray,
    gradient: np.ndarray,
    crop: tuple[int, int, int, int],
    pos: np.ndarray,
    neg: np.ndarray,
) -> float:
    """Boundary contrast × prompt agreement, in [0, 1).

    Contrast: the mean colour gradient on the mask's outline relative to the mean gradient in
    the crop (r), squashed to r / (1 + r): an outline on strong edges scores high,
    one cutting through flat colour scores low. Agreement: the fraction of clicks the mask
    honours (positive inside, negative outside).
    """
    if not mask.any():
        return 0.0
    as_u8 = mask.astype(np.uint8)
    outline = as_u8 - cv2.erode(as_u8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT)
    on_outline = gradient[outline > 0]
    x0, y0, x1, y1 = crop
    background = float(gradient[y0:y1, x0:x1].mean()) + 1e-6
    ratio = float(on_outline.mean()) / background if on_outline.size else 0.0
    contrast = ratio / (1.0 + ratio)
    h, w = mask.shape
    # An outline running along the crop's edge (not the image's) was cut by the crop, not by
    # the object: that share of the outline counts against the candidate.
    ys, xs = np.nonzero(outline)
    cut = ((xs == x0) & (x0 > 0)) | ((xs == x1 - 1) & (x1 < w)) | ((ys == y0) & (y0 > 0))
    cut |= (ys == y1 - 1) & (y1 < h)
    contrast *= 1.0 - float(cut.mean()) if cut.size else 1.0
    hits = total = 0
    for points, wanted in ((pos, True), (neg, False)):
        for x, y in points:
            xi, yi = int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1))
            hits += bool(mask[yi, xi]) == wanted
            total += 1
    agreement = hits / total if total else 1.0
    return float(contrast * agreement)


def _upsample(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Working-size bool mask -> bool (H, W), with smooth (bilinear, 0.5) edges."""
    height, width = size
    if mask.shape == (height, width):
        return mask.copy()
    resized = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return resized > 0.5


def _low_res_frame(original: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the image inside the 256×256 low-res grid (longest side 256)."""
    height, width = original
    factor = LOW_RES / max(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))


def _low_res_logits(mask: np.ndarray, original: tuple[int, int]) -> np.ndarray:
    """Working-size bool mask -> float32 (256, 256) signed distance logits (see module doc)."""
    lh, lw = _low_res_frame(original)
    small = cv2.resize(mask.astype(np.float32), (lw, lh), interpolation=cv2.INTER_AREA) > 0.5
    grid = np.full((LOW_RES, LOW_RES), -LOGIT_LIMIT, dtype=np.float32)
    if not small.any():
        return grid
    inside = small.astype(np.uint8)
    # Pad by one background pixel so the distance inside is measured to the image edge too.
    padded = cv2.copyMakeBorder(inside, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dist_in = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
    outside = 1 - inside
    dist_out = cv2.distanceTransform(outside, cv2.DIST_L2, 3) if outside.any() else np.zeros_like(dist_in)
    signed = np.where(small, dist_in, -dist_out)
    grid[:lh, :lw] = np.clip(signed, -LOGIT_LIMIT, LOGIT_LIMIT)
    return grid


def _low_res_to_work(logits: np.ndarray, original: tuple[int, int], work: tuple[int, int]) -> np.ndarray:
    """float32 (256, 256) low-res logits -> float32 (h, w) logits on the working copy."""
    lh, lw = _low_res_frame(original)
    h, w = work
    return cv2.resize(np.ascontiguousarray(logits[:lh, :lw]), (w, h), interpolation=cv2.INTER_LINEAR)
