"""Benchmark VideoReader access patterns on a single-keyframe video (bedroom.mp4 by default).

Measures, each on a fresh reader (cold), the median of several runs:
  * reading frame 150 (decodes 0..150: the file has one keyframe),
  * then frames 151..160 one after another (the decoder stays positioned: 10 decodes),
  * then frame 10 (a backward seek: back to the keyframe, decodes 0..10).
Compared with the naive baseline that re-opens and decodes from the start for every read.

    python bench/video_reader.py [path/to/video.mp4] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_runtime.media import VideoReader  # noqa: E402


def _naive_read(path: Path, index: int) -> None:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                frame.to_ndarray(format="rgb24")
                return


def run_once(path: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    with VideoReader(path) as reader:
        start = time.perf_counter()
        reader.read(150)
        times["cold frame 150"] = time.perf_counter() - start
        start = time.perf_counter()
        for index in range(151, 161):
            reader.read(index)
        times["frames 151..160"] = time.perf_counter() - start
        start = time.perf_counter()
        reader.read(10)
        times["back to frame 10"] = time.perf_counter() - start
    start = time.perf_counter()
    for index in range(151, 161):
        _naive_read(path, index)
    times["naive 151..160 (decode from start each)"] = time.perf_counter() - start
    return times


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    default = Path(__file__).resolve().parents[2] / "shared" / "media" / "bedroom.mp4"
    parser.add_argument("video", nargs="?", type=Path, default=default)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [run_once(args.video) for _ in range(args.runs)]
    print(f"{args.video.name}: median of {args.runs} runs")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"  {key:42s} {statistics.median(values) * 1000:8.1f} ms  (min {min(values) * 1000:.1f})")


if __name__ == "__main__":
    main()
