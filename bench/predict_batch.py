"""Many single-click prompts on one image: ``predict_batch`` vs ``predict`` one by one, and the
official decoder run in batches as its automatic mask generator does.

Segment everything asks about 1,000 prompts per image (a 32×32 grid of single points). For each
model (random weights in the official layout, tests/oracles) on one image, after one warm-up:

- ``ours batched``: ``predict_batch(embedding, prompts)`` once: logits and scores, no mask made;
- ``ours batched + best masks``: the same, then the best candidate's full-size mask of each;
- ``ours one by one``: ``predict`` per prompt (which makes the best mask before answering); with
  ``--one-by-one-every N`` only every Nth prompt is run and the time is multiplied by N (on a
  busy 2-core machine the full loop takes many minutes per run; the batched cases always run
  every prompt);
- ``official batched``: the official prompt encoder + mask decoder on batches of 64 points (the
  official ``SamAutomaticMaskGenerator`` / ``SAM2AutomaticMaskGenerator`` default), logits
  only: the same work as ``ours batched``;
- ``official one by one``: the official predictor's ``predict`` per prompt (what an app built on
  the official ``SamPredictor`` / ``SAM2ImagePredictor`` does for a click; it makes all three
  candidates' full-size masks), sampled like ``ours one by one``.

Runs of each case alternate; medians of ``--repeats`` runs are reported, wall time and process
CPU time (all threads; steadier than wall time on a machine shared with other jobs), with the
ratios of ours batched to the official batched decoder and to the official per-prompt path, and
the largest difference between the batched and the one-by-one answers (scores, logits,
best-mask pixels) over every 8th prompt.

    python bench/predict_batch.py --models vit_b,sam2.1_t --repeats 3 [--points-per-side 32]
        [--one-by-one-every 4]

Test-only packages (the official oracles, torchvision + shim) must be installed.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from image_models import DEFAULT_IMAGE, SAM1_NAMES, _make, _time  # noqa: E402  (bench/ is sys.path[0])

import tests.oracles  # noqa: E402, F401  (torchvision shim before the official packages)
from model_runtime.api import Prompts  # noqa: E402

OFFICIAL_POINTS_PER_BATCH = 64


def point_grid(width: int, height: int, per_side: int) -> np.ndarray:
    """(per_side², 2) pixel x, y at the centres of a per_side × per_side grid (as the official
    ``build_point_grid``)."""
    offset = 1 / (2 * per_side)
    side = np.linspace(offset, 1 - offset, per_side)
    xs, ys = np.meshgrid(side, side)
    return np.stack([xs.reshape(-1) * width, ys.reshape(-1) * height], axis=1).astype(np.float32)


def official_decoder(name: str, predictor: Any, image: np.ndarray) -> Callable[[np.ndarray], None]:
    """The official batched decoder pass over points (N, 2), after ``set_image``."""
    predictor.set_image(image)
    h, w = image.shape[:2]
    if name in SAM1_NAMES:
        model = predictor.model
        pe = model.prompt_encoder.get_dense_pe()

        def decode_sam1(points: np.ndarray) -> None:
            coords = torch.as_tensor(predictor.transform.apply_coords(points, (h, w)))[:, None, :]
            labels = torch.ones(len(points), 1, dtype=torch.int)
            sparse, dense = model.prompt_encoder(points=(coords, labels), boxes=None, masks=None)
            model.mask_decoder(
                image_embeddings=predictor.features, image_pe=pe, sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense, multimask_output=True,
            )

        return decode_sam1
    model = predictor.model
    features = predictor._features
    high_res = [level[-1].unsqueeze(0) for level in features["high_res_feats"]]

    def decode_sam2(points: np.ndarray) -> None:
        coords = predictor._transforms.transform_coords(
            torch.as_tensor(points)[:, None, :], normalize=True, orig_hw=(h, w)
        )
        labels = torch.ones(len(points), 1, dtype=torch.int)
        sparse, dense = model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        model.sam_mask_decoder(
            image_embeddings=features["image_embed"][-1].unsqueeze(0),
            image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=True, repeat_image=True, high_res_features=high_res,
        )

    return decode_sam2


def bench_model(
    name: str, image: np.ndarray, per_side: int, repeats: int, every: int, workdir: Path
) -> dict[str, Any]:
    from model_runtime import load_model

    ckpt, official_factory = _make(name, workdir)
    ours = load_model(ckpt, device="cpu")
    official = official_factory()
    h, w = image.shape[:2]
    points = point_grid(w, h, per_side)
    prompts = [Prompts(points=[tuple(p)], labels=[1]) for p in points]

    with torch.inference_mode():
        embedding = ours.encode_image(image)
        decode_official = official_decoder(name, official, image)

        def batched() -> list[Any]:
            return ours.predict_batch(embedding, prompts, multimask=True)

        def batched_best_masks() -> None:
            predictions = batched()
            while predictions:  # each dropped once its mask is made: 1,024 full-size masks add up
                prediction = predictions.pop()
                prediction.masks[int(np.argmax(prediction.scores))]

        def one_by_one(subset: slice = slice(None, None, every)) -> None:
            for p in points[subset]:
                ours.predict(embedding, points=p[None], labels=np.ones(1, np.int32), multimask=True)

        def official_batched() -> None:
            for start in range(0, len(points), OFFICIAL_POINTS_PER_BATCH):
                decode_official(points[start : start + OFFICIAL_POINTS_PER_BATCH])

        def official_one_by_one(subset: slice = slice(None, None, every)) -> None:
            for p in points[subset]:
                label = np.ones(1, np.int32)
                official.predict(point_coords=p[None], point_labels=label, multimask_output=True)

        cases = {
            "ours_batched_s": batched,
            "ours_batched_best_masks_s": batched_best_masks,
            "ours_one_by_one_s": one_by_one,
            "official_batched_s": official_batched,
            "official_one_by_one_s": official_one_by_one,
        }
        sampled = {"ours_one_by_one_s", "official_one_by_one_s"}
        for key, fn in cases.items():  # warm-up (one by one: a few prompts are enough)
            fn(slice(0, 16)) if key in sampled else fn()
        samples: dict[str, list[tuple[float, float]]] = {key: [] for key in cases}
        for _ in range(repeats):
            for key, fn in cases.items():
                samples[key].append(_time(fn))
                gc.collect()

        # How close the batched answers are to the one-by-one ones (every 8th prompt).
        together = batched()[::8]
        score_diff = logit_diff = 0.0
        pixels = 0
        for p, got in zip(points[::8], together, strict=True):
            one = ours.predict(embedding, points=p[None], labels=np.ones(1, np.int32), multimask=True)
            score_diff = max(score_diff, float(np.abs(got.scores - one.scores).max()))
            logit_diff = max(logit_diff, float(np.abs(got.low_res_logits - one.low_res_logits).max()))
            best = int(np.argmax(one.scores))
            pixels = max(pixels, int(np.count_nonzero(got.masks[best] != one.masks[best])))
    row: dict[str, Any] = {"model": name, "prompts": len(prompts), "image": f"{w}x{h}", "repeats": repeats}
    for key, values in samples.items():
        scale = every if key in sampled else 1
        row[key] = scale * statistics.median(wall for wall, _ in values)
        row[key[:-2] + "_cpu_s"] = scale * statistics.median(cpu for _, cpu in values)
    row["one_by_one_every"] = every
    row["speedup_vs_one_by_one"] = row["ours_one_by_one_s"] / row["ours_batched_s"]
    row["ratio_to_official_batched"] = row["ours_batched_s"] / row["official_batched_s"]
    row["ratio_to_official_one_by_one"] = row["ours_batched_s"] / row["official_one_by_one_s"]
    row["cpu_speedup_vs_one_by_one"] = row["ours_one_by_one_cpu_s"] / row["ours_batched_cpu_s"]
    row["cpu_ratio_to_official_batched"] = row["ours_batched_cpu_s"] / row["official_batched_cpu_s"]
    row["cpu_ratio_to_official_one_by_one"] = row["ours_batched_cpu_s"] / row["official_one_by_one_cpu_s"]
    row.update(max_score_diff=score_diff, max_logit_diff=logit_diff, max_best_mask_pixels_differing=pixels)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="vit_b,sam2.1_t", help="comma-separated, e.g. vit_b,sam2.1_t")
    parser.add_argument("--points-per-side", type=int, default=32, help="grid side: 32 -> 1,024 prompts")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for both sides")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each case")
    parser.add_argument(
        "--one-by-one-every", type=int, default=1,
        help="one by one (ours and official): time every Nth prompt only, ×N"
    )
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="RGB image (default: truck.jpg)")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    args = parser.parse_args(argv)

    from PIL import Image

    if not args.image.exists():
        raise SystemExit(f"{args.image}: image not found (pass --image)")
    image = np.array(Image.open(args.image).convert("RGB"))
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="samdesk-bench-") as tmp:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            every = args.one_by_one_every
            row = bench_model(name, image, args.points_per_side, args.repeats, every, Path(tmp))
            gc.collect()
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{name:9s} {row['prompts']} prompts on {row['image']}, median of {row['repeats']}: "
                    f"batched {row['ours_batched_s']:.2f} s (+ best masks "
                    f"{row['ours_batched_best_masks_s']:.2f} s), one by one {row['ours_one_by_one_s']:.2f} s "
                    f"(×{row['speedup_vs_one_by_one']:.1f}); official batched decoder "
                    f"{row['official_batched_s']:.2f} s (ratio {row['ratio_to_official_batched']:.2f}), "
                    f"official one by one {row['official_one_by_one_s']:.2f} s "
                    f"(ratio {row['ratio_to_official_one_by_one']:.3f})\n"
                    f"{'':9s} CPU time: batched {row['ours_batched_cpu_s']:.2f} s, one by one "
                    f"{row['ours_one_by_one_cpu_s']:.2f} s, official batched "
                    f"{row['official_batched_cpu_s']:.2f} s "
                    f"(ratio {row['cpu_ratio_to_official_batched']:.2f}), official one by one "
                    f"{row['official_one_by_one_cpu_s']:.2f} s "
                    f"(ratio {row['cpu_ratio_to_official_one_by_one']:.3f})\n"
                    f"{'':9s} batched vs one by one: scores ≤ {row['max_score_diff']:.1e}, logits ≤ "
                    f"{row['max_logit_diff']:.1e}, best masks differ in ≤ "
                    f"{row['max_best_mask_pixels_differing']} pixels",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
