"""Segment everything: ours against the official automatic mask generators, same weights and photo.

For each model: a random checkpoint in the official layout (tests/oracles), our
``model.segment_everything`` and the official ``SamAutomaticMaskGenerator`` /
``SAM2AutomaticMaskGenerator`` with the same settings (default: a 32×32 grid, no crops, the
official thresholds). Two comparisons: the generator alone, each side given the image already
encoded (ours the cached embedding, the official predictor's ``set_image`` run before timing and
then kept), and end to end, each side's own encoder included. Also the time to the first preview
our iterator yields (what a GUI can show first). Runs alternate, median of ``--repeats`` after a
warm-up.

    python bench/segment_everything.py --models sam2.1_t,mobilesam,vit_b --repeats 3

Random weights make speckled masks and predicted IoUs near 0, so with the official thresholds
few masks survive; ``--low-thresholds`` sets pred_iou 0.01 / stability 0.15 so that hundreds
survive and the post-processing is exercised (the kept counts are printed for both sides).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import tests.oracles  # noqa: E402, F401  (torchvision shim before the official packages)
from tests.oracles.torchvision_shim import enable_ops  # noqa: E402

DEFAULT_IMAGE = REPO_ROOT.parent / "shared" / "media" / "truck.jpg"


def _models(name: str, folder: Path) -> tuple[Any, Any, Any]:
    """(ours, official generator class, official model) over one random checkpoint."""
    from model_runtime import load_model

    if name.startswith("sam2.1_"):
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

        from tests.oracles.sam2 import build_official, make_checkpoint

        variant = {"t": "hiera_t", "s": "hiera_s", "b+": "hiera_b+", "l": "hiera_l"}[name.split("_")[1]]
        path = make_checkpoint("sam2.1", variant, folder / f"{name}.pt")
        return load_model(path), SAM2AutomaticMaskGenerator, build_official("sam2.1", variant, path)
    from tests.oracles.sam1 import build_official, make_sam1_checkpoint

    variant = {"mobilesam": "vit_t", "vit_b": "vit_b", "vit_l": "vit_l", "vit_h": "vit_h"}[name]
    path = make_sam1_checkpoint(folder, variant)
    if variant == "vit_t":
        from mobile_sam import SamAutomaticMaskGenerator
    else:
        from segment_anything import SamAutomaticMaskGenerator
    return load_model(path), SamAutomaticMaskGenerator, build_official(variant, path)


def _official_with_cached_encoding(generator: Any, image: np.ndarray) -> None:
    """Encode once, then make the predictor's set_image a no-op for this image."""
    predictor = generator.predictor
    predictor.set_image(image)
    for name in ("reset_image", "reset_predictor"):
        if hasattr(predictor, name):
            setattr(predictor, name, lambda: None)
    predictor.set_image = lambda *args, **kwargs: None


def bench(name: str, image: np.ndarray, repeats: int, settings: dict[str, Any]) -> dict[str, Any]:
    from model_runtime.everything import EverythingSettings, iter_everything

    with tempfile.TemporaryDirectory() as folder:
        ours, generator_class, official = _models(name, Path(folder))
    generator = generator_class(official, **settings)
    _official_with_cached_encoding(generator, image)
    embedding = ours.encode_image(image)
    ours_settings = EverythingSettings.for_family(ours.info.family, **settings)
    times: dict[str, list[float]] = {"ours": [], "official": [], "first": [], "encode_ours": [],
                                     "encode_official": []}
    counts = {}
    for run in range(repeats + 1):
        gc.collect()
        start = time.perf_counter()
        ours.encode_image(image)
        encode_ours = time.perf_counter() - start
        start = time.perf_counter()
        generator.predictor.__class__.set_image(generator.predictor, image)
        encode_official = time.perf_counter() - start
        gc.collect()
        start = time.perf_counter()
        first = None
        for step in iter_everything(ours, image, embedding, ours_settings):
            if first is None:
                first = time.perf_counter() - start
            result = step.instances
        ours_s = time.perf_counter() - start
        gc.collect()
        start = time.perf_counter()
        records = generator.generate(image)
        official_s = time.perf_counter() - start
        counts = {"ours": len(result), "official": len(records)}
        if run:  # the first run warms both up
            times["ours"].append(ours_s)
            times["official"].append(official_s)
            times["first"].append(first or ours_s)
            times["encode_ours"].append(encode_ours)
            times["encode_official"].append(encode_official)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "model": name,
        "threads": torch.get_num_threads(),
        "kept": counts,
        "ours_s": med["ours"],
        "official_s": med["official"],
        "ratio": med["ours"] / med["official"],
        "first_preview_s": med["first"],
        "end_to_end_ours_s": med["encode_ours"] + med["ours"],
        "end_to_end_official_s": med["encode_official"] + med["official"],
        "end_to_end_ratio": (med["encode_ours"] + med["ours"]) / (med["encode_official"] + med["official"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="sam2.1_t,mobilesam,vit_b")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--low-thresholds", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    enable_ops()
    image = np.asarray(Image.open(args.image).convert("RGB"))
    settings: dict[str, Any] = {"points_per_side": args.points_per_side}
    if args.low_thresholds:
        settings.update(pred_iou_thresh=0.01, stability_score_thresh=0.15)
    rows = [bench(name, image, args.repeats, settings) for name in args.models.split(",")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{args.image.name} {image.shape[1]}×{image.shape[0]}, {args.points_per_side}² points, "
          f"{args.threads} threads, median of {args.repeats}")
    print(f"{'model':<10} {'generator: ours s':>18} {'official s':>11} {'ratio':>6} | "
          f"{'with encode: ours s':>20} {'official s':>11} {'ratio':>6} | {'first preview s':>16} "
          f"{'kept ours/official':>19}")
    for r in rows:
        kept = f"{r['kept']['ours']}/{r['kept']['official']}"
        print(f"{r['model']:<10} {r['ours_s']:>18.2f} {r['official_s']:>11.2f} {r['ratio']:>6.2f} | "
              f"{r['end_to_end_ours_s']:>20.2f} {r['end_to_end_official_s']:>11.2f} "
              f"{r['end_to_end_ratio']:>6.2f} | {r['first_preview_s']:>16.2f} {kept:>19}")


if __name__ == "__main__":
    main()
