"""Batch labelling throughput: ``samdesk label`` on a folder of 20 photos, on this machine's runtime
and on a local Ray instance with 1 and 2 workers, side by side (images per minute).

    python bench/label_batch.py                       # MobileSAM --everything, 1 run each
    python bench/label_batch.py --runs 3 --points-per-side 16
    python bench/label_batch.py --model sam3-reduced  # SAM 3 at reduced width, phrases car/dog/person

The 20 photos are crops and resizes (to 640×480) of the JPEGs in ../shared/media, written to a
temporary folder. Weights are random (no pretrained weights exist here) in the official layouts:
MobileSAM at its real size (``tests/tiny_models.py``), or SAM 3 at the test suite's reduced width
(``tests/oracles/sam3_official.py``, needs the sam3 oracle package) — its numbers measure the
pipeline more than the model. Each run is the whole command: model load (per worker on Ray),
every image, the project saves; Ray's own start (``ray.init``) is not counted. A fresh embedding
cache per run, so nothing is reused between runs.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEDIA = Path(os.environ.get("SAMDESK_TEST_MEDIA", ROOT.parent / "shared" / "media"))


def make_photos(folder: Path, count: int = 20, size: tuple[int, int] = (640, 480)) -> list[Path]:
    from PIL import Image

    sources = sorted(MEDIA.glob("*.jpg"))
    if not sources:
        raise SystemExit(f"no JPEGs in {MEDIA}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        with Image.open(sources[index % len(sources)]) as image:
            image = image.convert("RGB")
            width, height = image.size
            step = index // len(sources)  # crops that shrink towards the centre, then resize
            margin_x, margin_y = width * step // 12, height * step // 12
            crop = image.crop((margin_x, margin_y, width - margin_x, height - margin_y)).resize(size)
            path = folder / f"photo_{index:02d}.jpg"
            crop.save(path, quality=92)
            paths.append(path)
    return paths


def make_model(kind: str, folder: Path) -> tuple[str, list[str]]:
    """The checkpoint and the task arguments of ``samdesk label``."""
    if kind == "mobilesam":
        from tests.tiny_models import save_mobile_sam_checkpoint

        return str(save_mobile_sam_checkpoint(folder / "mobile_sam.pt")), ["--everything"]
    from tests.oracles import sam3_official

    path = sam3_official.make_checkpoint(folder / "sam3.pt", seed=3)
    return str(path), ["--text", "car", "--text", "dog", "--text", "person", "--threshold", "0.5"]


def run_label(photos: Path, model: str, tasks: list[str], extra: list[str], work: Path) -> tuple[float, str]:
    from samdesk.cli import build_parser
    from samdesk.subcommands import label

    project = work / f"p{time.monotonic_ns()}.samdesk.json"
    argv = ["label", str(photos), "--model", model, "--project", str(project), "--cache-dir",
            str(work / f"cache{time.monotonic_ns()}"), *tasks, *extra]
    out = io.StringIO()
    start = time.perf_counter()
    code = label.run(build_parser()[0].parse_args(argv), out)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"samdesk label failed ({code}):\n{out.getvalue()}")
    return seconds, out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["mobilesam", "sam3-reduced"], default="mobilesam")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--points-per-side", type=int, default=8, help="for --everything")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="label-bench-") as tmp:
        work = Path(tmp)
        make_photos(work / "photos", args.images)
        model, tasks = make_model(args.model, work)
        if "--everything" in tasks:
            tasks += ["--points-per-side", str(args.points_per_side)]
        setups = {
            "local (runtime)": [],
            "--ray, 1 worker": ["--ray", "--workers", "1", "--cpus-per-worker", "1"],
            "--ray, 2 workers": ["--ray", "--workers", "2", "--cpus-per-worker", "1"],
        }
        import ray

        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING",
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
        results: dict[str, list[float]] = {name: [] for name in setups}
        for run in range(args.runs):
            for name, extra in setups.items():
                seconds, _ = run_label(work / "photos", model, tasks, extra, work)
                results[name].append(seconds)
                print(f"run {run + 1} {name}: {seconds:.1f} s", file=sys.stderr)
        ray.shutdown()
    print(f"\n{args.images} photos 640×480, {args.model} ({' '.join(tasks)}), {args.runs} run(s), "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':20} {'median s':>10} {'images/min':>12} {'vs local':>10}")
    local = statistics.median(results["local (runtime)"])
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:20} {median:10.1f} {args.images / median * 60:12.1f} {local / median:9.2f}×")


if __name__ == "__main__":
    main()
