"""The first click after switching to an image that is already encoded, against the clicks after it.

    python bench/first_click.py --model CHECKPOINT.pt [--rounds 6] [--look 0.5] [--json]

Driven the way the GUI drives the runtime: every image is encoded once first; then, for each
round, each image in turn is "shown" (``Runtime.encode`` of it at the on-screen priority,
answered from the memory cache, as the GUI asks when it shows an image), the user looks at it
for ``--look`` seconds, then clicks three times at random points, each click sent when the
previous answer has arrived. Two runtimes side by side in one process, rounds interleaved (robust
to the load of a shared machine): one that prepares the clicks when an image is shown
(``RuntimeConfig.prepare_clicks``, the default; issue 18 defect 10) and one that does not (what
every click paid before).

Per click, two numbers: the wall time from ``Runtime.predict`` to its answer, and the CPU time
of the runtime's interactive thread over the same span (one intra-op thread, so the click's
whole model work is on it; the other candidate masks, made after the answer, are not counted).
The CPU time does not depend on what else the machine runs; the wall time does.

The official predictors keep nothing per image but the features (every predict redoes all of
its work, the first and the later ones alike), so the comparison here is first click against
later clicks on the same runtime; bench/image_models.py compares our predict with the official.

With ``--json`` the last line is one JSON object with the medians of both runtimes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from model_runtime.api import Prompts  # noqa: E402
from model_runtime.runtime import Callbacks, Runtime, RuntimeConfig  # noqa: E402

MEDIA_DIR = Path(os.environ.get("SAMDESK_TEST_MEDIA", REPO_ROOT.parent / "shared" / "media"))
IMAGES = ("truck.jpg", "groceries.jpg", "cars.jpg", "dog.jpg")  # four sizes, as a folder has
WAIT_S = 600


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.array(img.convert("RGB"))


class Measured:
    """One runtime under test and the CPU clock of its interactive thread."""

    def __init__(self, name: str, prepare: bool, model: str, device: str | None) -> None:
        self.name = name
        before = set(threading.enumerate())
        config = RuntimeConfig(
            disk_cache=False, interactive_threads=1, background_threads=1, prepare_clicks=prepare
        )
        self.runtime = Runtime(config)
        started = [t for t in threading.enumerate() if t not in before and t.name.endswith("interactive")]
        assert len(started) == 1, started
        self.clock = time.pthread_getcpuclockid(started[0].ident)
        self.first: list[tuple[float, float]] = []  # (wall ms, CPU ms) per click
        self.later: list[tuple[float, float]] = []
        result(lambda cb: self.runtime.load_model(model, device=device, callbacks=cb))

    def cpu(self) -> float:
        return time.clock_gettime(self.clock)


def result(send, on_answer=None) -> tuple[float, object]:
    """Send one request and wait for it: (wall seconds to the answer, the result).
    ``on_answer()`` runs in the callback, on the runtime thread that answered."""
    done = threading.Event()
    box: list[object] = []

    def on_result(_rid: int, value: object) -> None:
        if on_answer is not None:
            on_answer()
        box.append(value)
        done.set()

    def on_error(_rid: int, error: BaseException) -> None:
        box.append(error)
        done.set()

    start = time.perf_counter()
    send(Callbacks(on_result=on_result, on_error=on_error))
    if not done.wait(WAIT_S):
        raise SystemExit(f"no answer in {WAIT_S} s")
    seconds = time.perf_counter() - start
    if isinstance(box[0], BaseException):
        raise SystemExit(f"request failed: {box[0]!r}")
    return seconds, box[0]


def click(m: Measured, name: str, prompts: Prompts) -> tuple[float, float]:
    answered: list[float] = []
    cpu0 = m.cpu()
    wall, _ = result(
        lambda cb: m.runtime.predict("bench-object", name, 0, prompts, callbacks=cb),
        on_answer=lambda: answered.append(m.cpu()),
    )
    return wall * 1000, (answered[0] - cpu0) * 1000


def medians(samples: list[tuple[float, float]]) -> dict[str, float]:
    return {
        "wall_ms": round(statistics.median(s[0] for s in samples), 1),
        "cpu_ms": round(statistics.median(s[1] for s in samples), 1),
        "n": len(samples),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint path")
    parser.add_argument("--device", default=None)
    parser.add_argument("--rounds", type=int, default=6, help="times each image is shown and clicked")
    parser.add_argument("--look", type=float, default=0.5, help="seconds between showing and clicking")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    images = {name: read_rgb(MEDIA_DIR / name) for name in IMAGES}
    runs = [
        Measured("prepared when shown", True, args.model, args.device),
        Measured("not prepared", False, args.model, args.device),
    ]
    for m in runs:
        for name in IMAGES:
            result(lambda cb, n=name, rt=m.runtime: rt.encode(n, 0, lambda: images[n], callbacks=cb))
    info = runs[0].runtime.model_info
    assert info is not None

    rng = np.random.default_rng(0)
    for _round in range(args.rounds):
        for name in IMAGES:
            h, w = images[name].shape[:2]
            points = [(float(rng.uniform(0, w)), float(rng.uniform(0, h))) for _ in range(3)]
            for m in runs:  # the same clicks on both
                _, shown = result(lambda cb, n=name, rt=m.runtime: rt.encode(n, 0, None, callbacks=cb))
                assert shown.source == "memory", shown.source
                time.sleep(args.look)  # the user looks at the picture before clicking
                for i, point in enumerate(points):
                    sample = click(m, name, Prompts(points=[point], labels=[1]))
                    (m.first if i == 0 else m.later).append(sample)
                    time.sleep(0.05)
    for m in runs:
        m.runtime.close()

    out: dict[str, object] = {
        "model": info.display_name,
        "device": str(info.device),
        "rounds": args.rounds,
        "load_average": round(os.getloadavg()[0], 1),
    }
    for m in runs:
        first, later = medians(m.first), medians(m.later)
        ratio = round(first["cpu_ms"] / later["cpu_ms"], 2)
        out[m.name] = {"first": first, "later": later, "first_over_later_cpu": ratio}
        print(
            f"{info.display_name} on {info.device}, {m.name}: first click median {first['wall_ms']} ms "
            f"wall, {first['cpu_ms']} ms CPU; later clicks {later['wall_ms']} ms wall, "
            f"{later['cpu_ms']} ms CPU; first/later CPU {ratio}"
        )
    counts = f"{len(runs[0].first)} first clicks, {len(runs[0].later)} later"
    print(f"load average {out['load_average']} ({counts})")
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
