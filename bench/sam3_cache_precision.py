"""SAM 3: would a half-precision disk cache keep ``find_all`` within the parity bar?

The detector part of a SAM 3 embedding is ~110 MB in float32 per image. Storing it in float16
or bfloat16 would halve the disk cache's entries, but only if ``find_all`` on an embedding
that went through that round trip still meets issue 16's parity bar against the float32 one:
the same kept instances, scores within 1e-4, boxes within 1e-3 of the image size, mask IoU ≥
0.999. This script measures that on random weights in the ``sam3.pt`` layout (scores spread
across 0.5, so many instances are kept) for the parity suite's prompt cases:

    python bench/sam3_cache_precision.py                           # reduced width (writes a file)
    python bench/sam3_cache_precision.py --checkpoint /tmp/sam3-full.pt --image truck.jpg

Test-only packages (the official ``sam3`` oracle, to write the checkpoint) must be installed
when no ``--checkpoint`` is given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MEDIA = REPO_ROOT.parent / "shared" / "media"
SCORE_TOLERANCE = 1e-4
BOX_TOLERANCE = 1e-3  # of the image's longer side
MASK_IOU = 0.999


def _round_trip(value: Any, dtype: Any) -> Any:
    """Every floating tensor of ``value`` (nested dicts/lists) through ``dtype`` and back."""
    import torch

    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype).to(value.dtype)
    if isinstance(value, dict):
        return {k: _round_trip(v, dtype) for k, v in value.items()}
    if isinstance(value, list):
        return [_round_trip(v, dtype) for v in value]
    return value


def _cases(width: int, height: int) -> dict[str, Any]:
    from model_runtime.api import Prompts

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (x0 * width, y0 * height, x1 * width, y1 * height)

    return {
        "phrase": Prompts(text="a red car"),
        "two positive boxes": Prompts(
            exemplars=[(box(0.10, 0.20, 0.35, 0.55), True), (box(0.55, 0.30, 0.90, 0.80), True)]
        ),
        "phrase, positive and negative box": Prompts(
            text="dog", exemplars=[(box(0.20, 0.10, 0.60, 0.70), True), (box(0.65, 0.50, 0.95, 0.95), False)]
        ),
        "exemplar alone": Prompts(exemplars=[(box(0.30, 0.25, 0.62, 0.71), True)]),
    }


def compare(checkpoint: Path, image_path: Path) -> list[dict[str, Any]]:
    """One row per (dtype, case): kept counts, worst score / box difference, worst mask IoU."""
    import numpy as np
    import torch
    from PIL import Image

    from model_runtime import load_model
    from model_runtime.api import ImageEmbedding

    model = load_model(checkpoint, device="cpu")
    image = np.array(Image.open(image_path).convert("RGB"))
    height, width = image.shape[:2]
    embedding = model.encode_image(image)
    rows = []
    for dtype in (torch.float16, torch.bfloat16):
        stored = ImageEmbedding(
            embedding.model_id, embedding.original_size, embedding.input_size,
            _round_trip(embedding.features, dtype),
        )
        for case, prompts in _cases(width, height).items():
            fresh, back = model.find_all(embedding, prompts), model.find_all(stored, prompts)
            row: dict[str, Any] = {"dtype": str(dtype).removeprefix("torch."), "case": case,
                                   "kept": len(fresh.scores), "kept_after": len(back.scores)}
            same = row["kept"] == row["kept_after"]
            # Every query's score and box, kept or not (the pool ``above`` re-filters).
            row["score_diff"] = float(np.abs(fresh.above(0.0).scores - back.above(0.0).scores).max())
            row["box_diff"] = float(np.abs(fresh.above(0.0).boxes - back.above(0.0).boxes).max()) / max(
                height, width
            )
            ious = [
                float((a & b).sum() / max((a | b).sum(), 1))
                for a, b in zip(fresh.masks, back.masks, strict=True)
            ] if same else []
            row["min_iou"] = min(ious, default=1.0)
            row["meets_bar"] = (
                same and row["score_diff"] <= SCORE_TOLERANCE and row["box_diff"] <= BOX_TOLERANCE
                and row["min_iou"] >= MASK_IOU
            )
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="sam3.pt-layout file (default: a reduced one)")
    parser.add_argument("--image", default="dog.jpg", help="a photo of ../shared/media, or a path")
    args = parser.parse_args(argv)
    image = Path(args.image) if Path(args.image).exists() else MEDIA / args.image
    with tempfile.TemporaryDirectory(prefix="samdesk-sam3-precision-") as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from tests.oracles import sam3_official as oracle

            checkpoint = oracle.make_checkpoint(Path(tmp) / "sam3.pt", seed=3)
        rows = compare(checkpoint, image)
    print(f"{'dtype':9s} {'case':34s} {'kept':>9s} {'score diff':>10s} {'box diff':>9s} {'min IoU':>8s}  bar")
    for r in rows:
        print(f"{r['dtype']:9s} {r['case']:34s} {r['kept']:4d}/{r['kept_after']:<4d} {r['score_diff']:10.1e} "
              f"{r['box_diff']:9.1e} {r['min_iou']:8.4f}  {'met' if r['meets_bar'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
