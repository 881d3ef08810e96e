"""Quick SAM 1 / MobileSAM timing: ours against the official SamPredictor, same process,
same random checkpoint, same image, interleaved runs, median of N after one warm-up.

    PYTHONPATH=. python bench/sam1_quick.py --variant vit_t --image ../shared/media/truck.jpg --runs 5

Needs the test-only oracle packages. The lead's full benchmark lives in bench/image_models.py.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import tests.oracles  # noqa: F401  (torchvision shim before the official packages)
from model_runtime import load_model
from tests.oracles.sam1 import make_sam1_checkpoint, official_predictor


def _median_ms(ours: Callable[[], object], official: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median ms of each; runs alternate so that a shared machine's load hits both alike."""
    ours()  # warm-up
    official()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, out in ((ours, times[0]), (official, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[0]), 1000 * statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="vit_t", choices=["vit_b", "vit_l", "vit_h", "vit_t"])
    parser.add_argument(
        "--image", type=Path, default=Path(__file__).resolve().parents[2] / "shared/media/truck.jpg"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--encode-runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = np.asarray(Image.open(args.image).convert("RGB"))
    h, w = image.shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        path = make_sam1_checkpoint(tmp, args.variant)
        ours = load_model(path, device="cpu")
        official = official_predictor(path, args.variant)
    print(f"{args.variant} on {args.image.name} {w}x{h}, {args.threads} threads, median of {args.runs}")
    if args.encode_runs:
        enc_ours, enc_off = _median_ms(
            lambda: ours.encode_image(image), lambda: official.set_image(image), args.encode_runs
        )
        print(
            f"encode   ours {enc_ours:9.1f} ms   official {enc_off:9.1f} ms   ratio {enc_ours / enc_off:.2f}"
        )
    embedding = ours.encode_image(image)
    official.set_image(image)
    prompts = {
        "click": {"points": np.array([[0.45 * w, 0.55 * h]]), "labels": np.array([1])},
        "box": {"box": np.array([0.1 * w, 0.2 * h, 0.8 * w, 0.9 * h])},
    }
    for name, prompt in prompts.items():
        for multimask in (True, False):
            t_ours = _median_ms(
                lambda p=prompt, m=multimask: ours.predict(embedding, multimask=m, **p), args.runs
            )
            t_off = _median_ms(
                lambda p=prompt, m=multimask: official.predict(
                    point_coords=p.get("points"),
                    point_labels=p.get("labels"),
                    box=p.get("box"),
                    multimask_output=m,
                ),
                args.runs,
            )
            print(
                f"predict {name:5s} multimask={multimask!s:5s} ours {t_ours:7.1f} ms   "
                f"official {t_off:7.1f} ms   ratio {t_ours / t_off:.2f}"
            )


if __name__ == "__main__":
    main()
