"""Time the sign-exact mask upsampling against the official post-processing.

Official: ``F.interpolate`` exactly as the official predictors do it (SAM2ImagePredictor: one
bilinear resize of the (1, K, 256, 256) logits to the image size; SamPredictor: to 1024², crop to
the resized input, to the image size), then ``> 0`` and to numpy. Ours:
``model_runtime.models.common.mask_upsampling.upsample_masks`` (plan built inside the timed call,
as predict does). Three candidates. Logit cases:

* ``disc``: smooth synthetic logits, scaled signed distances of three nested discs/ellipses (what
  trained models give: one border, large one-sign regions);
* ``sam2.1_t-random``: the low-res logits of SAM 2.1 tiny with *random* weights on truck.jpg, one
  click (noisy: random weights make speckled masks, so this exercises the fall-back);
* ``noise``: i.i.d. Gaussian logits (worst case).

Runs of ours and the official alternate; medians of ``--repeats`` runs after one warm-up.
``--sweep`` also times the exact path and the full-interpolation fall-back against the exact
work fraction (the cut-over ``MIXED_LIMIT_ONE_THREAD`` / threads is chosen from it).

    python bench/mask_upsampling.py --threads 1 [--repeats 7] [--sweep] [--no-model]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from model_runtime.models.common import mask_upsampling as mu  # noqa: E402
from model_runtime.models.sam1.transforms import resized_shape  # noqa: E402

DEFAULT_IMAGE = REPO_ROOT.parent / "shared" / "media" / "truck.jpg"
SIZES = [(1200, 1800), (3000, 4000)]  # (H, W)


def disc_logits(k: int = 3, n: int = 256, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """(1, k, n, n) float32: 0.5 · signed distance (in low-res pixels) to nested ellipses, + noise."""
    axis = torch.arange(n, dtype=torch.float32)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    out = []
    for i in range(k):
        ry, rx = 30.0 + 25 * i, 45.0 + 20 * i
        dist = torch.sqrt(((y - 120) / ry) ** 2 + ((x - 135) / rx) ** 2)
        out.append((1.0 - dist) * min(ry, rx) * 0.5)
    logits = torch.stack(out)[None]
    if noise:
        logits = logits + noise * torch.randn(logits.shape, generator=torch.Generator().manual_seed(seed))
    return logits


def model_logits(image_path: Path) -> torch.Tensor:
    """(1, 3, 256, 256): SAM 2.1 tiny with random weights, one click in the middle of the image."""
    from PIL import Image

    from model_runtime.models.sam2.config import make_config
    from model_runtime.models.sam2.model import Sam2ImageModel
    from model_runtime.models.sam2.network import Sam2Network

    torch.manual_seed(0)
    model = Sam2ImageModel(Sam2Network(make_config("sam2.1", "hiera_t")), torch.device("cpu"))
    image = np.asarray(Image.open(image_path).convert("RGB"))
    embedding = model.encode_image(image)
    h, w = image.shape[:2]
    pred = model.predict(embedding, points=np.array([[w / 2, h / 2]]), labels=np.array([1]))
    return torch.from_numpy(pred.low_res_logits)[None]


def official_sam2(low: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """SAM2ImagePredictor's post-processing (its ``_transforms.postprocess_masks``), then > 0."""
    masks = F.interpolate(low.float(), size, mode="bilinear", align_corners=False)
    return (masks > 0.0)[0].numpy()


def official_sam1(low: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """SamPredictor's ``postprocess_masks`` (1024², crop, original size), then > 0."""
    input_size = resized_shape(*size)
    masks = F.interpolate(low, (1024, 1024), mode="bilinear", align_corners=False)
    masks = masks[..., : input_size[0], : input_size[1]]
    masks = F.interpolate(masks, size, mode="bilinear", align_corners=False)
    return (masks > 0.0)[0].numpy()


def plan_for(chain: str, size: tuple[int, int]) -> mu.Plan:
    if chain == "sam2":
        return mu.sam2_plan((256, 256), size)
    return mu.sam1_plan((256, 256), resized_shape(*size), size)


def median_ms(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time (ms) of each fn, runs interleaved so machine load hits all alike."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return [statistics.median(t) * 1e3 for t in times]


def compare(cases: dict[str, torch.Tensor], repeats: int) -> None:
    print(f"{'case':18} {'chain':5} {'size HxW':>10} {'work':>6} {'official ms':>12} {'ours ms':>8} ratio")
    for name, low in cases.items():
        for chain in ("sam2", "sam1"):
            official = official_sam2 if chain == "sam2" else official_sam1
            for size in SIZES:
                work = mu.exact_work_fraction(low, plan_for(chain, size))
                ref = official(low, size)
                ours = mu.upsample_masks(low, plan_for(chain, size))[0]
                differ = int((ref != ours).sum())

                t_off, t_ours = median_ms(
                    [
                        lambda low=low, size=size, official=official: official(low, size),
                        lambda low=low, size=size, chain=chain: mu.upsample_masks(low, plan_for(chain, size)),
                    ],
                    repeats,
                )
                note = f"  ({differ} pixels differ)" if differ else ""
                print(
                    f"{name:18} {chain:5} {size[0]:>4}x{size[1]:<5} {work:6.3f} {t_off:12.1f} {t_ours:8.1f}"
                    f" {t_ours / t_off:6.2f}{note}"
                )


def sweep(repeats: int) -> None:
    """Exact path vs full interpolation as the straddling fraction grows (disc + rising noise)."""
    print(f"{'chain':5} {'size HxW':>10} {'noise':>5} {'work':>6} {'exact ms':>9} {'full ms':>8}")
    for chain in ("sam2", "sam1"):
        for size in SIZES:
            plan = plan_for(chain, size)
            for noise in (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 1000.0):
                low = disc_logits(noise=noise)
                work = mu.exact_work_fraction(low, plan)
                exact, full = median_ms(
                    [
                        lambda plan=plan, low=low: mu.upsample_masks(low, plan, mixed_limit=float("inf")),
                        lambda plan=plan, low=low: mu.upsample_masks(low, plan, mixed_limit=-1.0),
                    ],
                    repeats,
                )
                print(f"{chain:5} {size[0]:>4}x{size[1]:<5} {noise:5g} {work:6.3f} {exact:9.1f} {full:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--no-model", action="store_true", help="skip the SAM 2.1 tiny random-weight case")
    parser.add_argument("--sweep", action="store_true", help="also time exact path vs fall-back by work")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeats} after warm-up")
    cases = {"disc": disc_logits()}
    if not args.no_model:
        cases["sam2.1_t-random"] = model_logits(args.image)
    cases["noise"] = torch.randn((1, 3, 256, 256), generator=torch.Generator().manual_seed(0)) * 3
    compare(cases, args.repeats)
    if args.sweep:
        sweep(args.repeats)


if __name__ == "__main__":
    main()
