"""Speed of the classical GrabCut backend on the shared test photos.

    python bench/bench_classical.py [MEDIA_DIR] [--runs N]

Prints the median wall and CPU time of encode_image and of predict for a box, a box with a
negative click, a single click (3 candidates) and a refinement with mask_input. CPU time is
reported beside wall time because the benchmark machines are shared: wall time inflates
with other load, process CPU time much less. There is no official counterpart to compare
against (GrabCut is our own backend), so no ratio is printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from model_runtime.models.classical.grabcut import GrabCutModel

# The whole pick-up, its rear wheel hub, and the driver's window (pixel coordinates).
CASES = {"truck.jpg": {"box": [80, 280, 1720, 850], "negative": [560, 740], "click": [1000, 360]}}


def _measure(func, runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    func()  # warm-up: first-call allocations are not what users wait for on every click
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        func()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    default_media = Path(__file__).resolve().parents[2] / "shared" / "media"
    parser.add_argument("media", nargs="?", default=str(default_media))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    model = GrabCutModel()
    image = cv2.cvtColor(cv2.imread(str(Path(args.media) / "truck.jpg")), cv2.COLOR_BGR2RGB)
    case = CASES["truck.jpg"]
    box = np.array(case["box"])
    print(f"truck.jpg {image.shape[1]}x{image.shape[0]}, median of {args.runs} runs (wall s / cpu s)")
    wall, cpu = _measure(lambda: model.encode_image(image), args.runs)
    print(f"  encode_image              {wall:.3f} / {cpu:.3f}")
    emb = model.encode_image(image)
    first = model.predict(emb, box=box)
    prompts = {
        "predict box": {"box": box},
        "predict box + negative": {"box": box, "points": [case["negative"]], "labels": [0]},
        "predict click (3 masks)": {"points": [case["click"]], "labels": [1]},
        "predict box + mask_input": {"box": box, "mask_input": first.low_res_logits[:1]},
    }
    for name, kwargs in prompts.items():
        wall, cpu = _measure(lambda kwargs=kwargs: model.predict(emb, **kwargs), args.runs)
        print(f"  {name:<26}{wall:.3f} / {cpu:.3f}")


if __name__ == "__main__":
    main()
