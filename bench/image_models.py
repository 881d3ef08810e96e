"""Time our image models against the official implementations on the same random weights.

For each model: build a random checkpoint in the official layout (tests/oracles), load it with
``model_runtime.load_model`` and with the official predictor, then time ``encode_image`` vs
``set_image`` and ``predict`` vs ``predict`` (one click, multimask) on the same image, with the
same torch thread count. Runs of ours and the official alternate so that load on a shared
machine hits both alike; medians after one warm-up run are reported with their ratio.

    python bench/image_models.py --models sam2.1_t,mobilesam --threads 2 --repeats 5 [--json]

Test-only packages (the official oracles, torchvision + shim) must be installed.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import tests.oracles  # noqa: E402, F401  (torchvision shim before the official packages)

DEFAULT_IMAGE = REPO_ROOT.parent / "shared" / "media" / "truck.jpg"
SAM2_SIZES = {"t": "hiera_t", "s": "hiera_s", "b+": "hiera_b+", "l": "hiera_l"}
SAM1_NAMES = {"vit_b": "vit_b", "vit_l": "vit_l", "vit_h": "vit_h", "mobilesam": "vit_t"}


@dataclass
class Result:
    model: str
    threads: int
    repeats: int
    encode_ours_s: float
    encode_official_s: float
    predict_ours_s: float
    predict_official_s: float

    @property
    def encode_ratio(self) -> float:
        return self.encode_ours_s / self.encode_official_s

    @property
    def predict_ratio(self) -> float:
        return self.predict_ours_s / self.predict_official_s


def _make(name: str, workdir: Path) -> tuple[Path, Callable[[], Any]]:
    """-> (checkpoint path, factory of the official predictor) for a model name."""
    if name in SAM1_NAMES:
        from tests.oracles import sam1

        variant = SAM1_NAMES[name]
        ckpt = sam1.make_sam1_checkpoint(workdir, variant, seed=0)
        return ckpt, lambda: sam1.official_predictor(ckpt, variant)
    family, _, size = name.rpartition("_")
    if family in ("sam2", "sam2.1") and size in SAM2_SIZES:
        from tests.oracles import sam2

        variant = SAM2_SIZES[size]
        ckpt = sam2.make_checkpoint(family, variant, workdir / f"{name}.pt", seed=0)
        return ckpt, lambda: sam2.make_predictor(family, variant, ckpt)
    known = [f"{f}_{s}" for f in ("sam2.1", "sam2") for s in SAM2_SIZES] + list(SAM1_NAMES)
    raise SystemExit(f"unknown model {name!r}; known: {', '.join(known)}")


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_model(name: str, image: np.ndarray, threads: int, repeats: int, workdir: Path) -> Result:
    from model_runtime import load_model

    torch.set_num_threads(threads)
    ckpt, official_factory = _make(name, workdir)
    ours = load_model(ckpt, device="cpu")
    official = official_factory()
    h, w = image.shape[:2]
    click = np.array([[w * 0.3, h * 0.35]], dtype=np.float32)
    label = np.array([1])

    with torch.inference_mode():
        emb = ours.encode_image(image)  # warm-up
        official.set_image(image)
        enc_ours, enc_off = [], []
        for _ in range(repeats):
            enc_ours.append(_time(lambda: ours.encode_image(image)))
            enc_off.append(_time(lambda: official.set_image(image)))

        def predict_ours() -> Any:
            return ours.predict(emb, points=click, labels=label, multimask=True)

        def predict_official() -> Any:
            return official.predict(point_coords=click, point_labels=label, multimask_output=True)

        predict_ours()
        predict_official()
        pred_ours, pred_off = [], []
        for _ in range(3 * repeats):  # cheap: more samples for a steadier median
            pred_ours.append(_time(predict_ours))
            pred_off.append(_time(predict_official))
    return Result(
        model=name,
        threads=threads,
        repeats=repeats,
        encode_ours_s=statistics.median(enc_ours),
        encode_official_s=statistics.median(enc_off),
        predict_ours_s=statistics.median(pred_ours),
        predict_official_s=statistics.median(pred_off),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="sam2.1_t,mobilesam", help="comma-separated, e.g. sam2.1_t,vit_b")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for both sides")
    parser.add_argument("--repeats", type=int, default=5, help="timed encode runs per side (≥ 5 advised)")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE, help="RGB image (default: truck.jpg)")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    args = parser.parse_args(argv)

    from PIL import Image

    if not args.image.exists():
        raise SystemExit(f"{args.image}: image not found (pass --image)")
    image = np.array(Image.open(args.image).convert("RGB"))
    results = []
    with tempfile.TemporaryDirectory(prefix="samdesk-bench-") as tmp:
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            result = bench_model(name, image, args.threads, args.repeats, Path(tmp))
            gc.collect()  # the models went out of scope: free them before the next one
            results.append(result)
            if args.json:
                ratios = {"encode_ratio": result.encode_ratio, "predict_ratio": result.predict_ratio}
                row = asdict(result) | ratios
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{name:10s} threads={result.threads} "
                    f"encode ours {result.encode_ours_s:7.3f}s official {result.encode_official_s:7.3f}s "
                    f"ratio {result.encode_ratio:5.2f} | "
                    f"predict ours {result.predict_ours_s * 1000:7.1f}ms "
                    f"official {result.predict_official_s * 1000:7.1f}ms ratio {result.predict_ratio:5.2f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
