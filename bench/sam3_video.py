"""SAM 3 video: our session against the official ``Sam3VideoPredictor``, and memory over length.

Speed: the same random checkpoint (``sam3.pt`` layout; reduced width by default, ``--checkpoint``
for another, e.g. a full-size one with ``--full``), the same frames of bedroom.mp4 (480×270 JPEGs),
a phrase on frame 0 and forward propagation, with the parity test's planner settings
(thresholds lowered so random weights find instances). Each side runs in its own process,
alternating ours / official ``--repeats`` times (this CPU is shared: alternation lets both see the
same load); each prints the seconds of ``add_concept`` and per propagated frame (wall and the
process's CPU seconds, all threads), and the process's peak RSS. The medians and the ratio
ours / official are printed.

Memory over length (``--rss-frames N``): our session alone tracks the phrase through N synthetic
frames (bright squares drifting on noise); RSS and the objects' state are printed every 10
frames. Flat means the second half adds nothing.

    .venv/bin/python bench/sam3_video.py --frames 7 --repeats 3
    .venv/bin/python bench/sam3_video.py --frames 0 --rss-frames 120

Run from the repository root. Needs the test-only oracles (official ``sam3`` package).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
# The repository root instead of bench/ (whose sam3.py would hide the official ``sam3`` package).
sys.path[0] = str(ROOT)

PHRASE = "person"


def rss_mib() -> float:
    """Current resident set size (MiB), from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(checkpoint: Path, frames: Path) -> dict[str, float]:
    from model_runtime import load_model
    from model_runtime.api import Prompts
    from tests.test_sam3_video_parity import SETTINGS, planner_config

    model = load_model(checkpoint, device="cpu")
    start = time.perf_counter()
    video = model.open_video(frames, planner_config(SETTINGS))
    opened = time.perf_counter()
    video.add_concept(0, Prompts(text=PHRASE))
    added, added_cpu = time.perf_counter(), time.process_time()
    count = 0
    for _ in video.propagate(start_frame=1):
        count += 1
    done, done_cpu = time.perf_counter(), time.process_time()
    video.close()
    return {
        "open_s": opened - start,
        "concept_s": added - opened,
        "per_frame_s": (done - added) / count,
        "per_frame_cpu_s": (done_cpu - added_cpu) / count,
        "frames": count,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_official(checkpoint: Path, frames: Path, spec_name: str) -> dict[str, float]:
    from tests.oracles import sam3_official, sam3_video
    from tests.test_sam3_video_parity import SETTINGS

    spec = sam3_official.full_spec() if spec_name == "full" else sam3_official.reduced_spec()
    model = sam3_video.load_official_video(checkpoint, spec, SETTINGS)
    predictor = sam3_video.predictor(model)
    with sam3_video.cpu_video_patches(model), torch.inference_mode():
        start = time.perf_counter()
        session = predictor.handle_request({"type": "start_session", "resource_path": str(frames)})[
            "session_id"
        ]
        opened = time.perf_counter()
        predictor.handle_request(
            {"type": "add_prompt", "session_id": session, "frame_index": 0, "text": PHRASE}
        )
        added, added_cpu = time.perf_counter(), time.process_time()
        count = 0
        request = {
            "type": "propagate_in_video",
            "session_id": session,
            "propagation_direction": "forward",
            "start_frame_index": 1,
        }
        for _ in predictor.handle_stream_request(request):
            count += 1
        done, done_cpu = time.perf_counter(), time.process_time()
    return {
        "open_s": opened - start,
        "concept_s": added - opened,
        "per_frame_s": (done - added) / count,
        "per_frame_cpu_s": (done_cpu - added_cpu) / count,
        "frames": count,
        "peak_rss_mib": peak_rss_mib(),
    }


class SyntheticFrames:
    """``count`` frames of 320×240: noise with two bright squares drifting apart."""

    frame_size = (240, 320)

    def __init__(self, count: int) -> None:
        self.count = count
        self.background = np.random.default_rng(0).integers(0, 80, size=(240, 320, 3), dtype=np.uint8)

    def __len__(self) -> int:
        return self.count

    def read(self, index: int) -> np.ndarray:
        frame = self.background.copy()
        x = 20 + (index * 3) % 120
        frame[60:140, x : x + 50] = 230
        frame[120:200, 300 - x - 50 : 300 - x] = 200
        return frame

    def close(self) -> None:
        pass


def rss_run(checkpoint: Path, count: int) -> None:
    from model_runtime import load_model
    from model_runtime.api import Prompts
    from tests.test_sam3_video_parity import SETTINGS, planner_config

    model = load_model(checkpoint, device="cpu")
    video = model.open_video(SyntheticFrames(count), planner_config(SETTINGS))
    video.add_concept(0, Prompts(text=PHRASE))
    start = time.perf_counter()
    samples: list[tuple[int, float]] = []
    for step in video.propagate():
        if step.done % 10 == 0 or step.done == count:
            samples.append((step.done, rss_mib()))
            print(
                f"  frame {step.frame_index}: {len(step.masks)} objects shown, RSS {rss_mib():.0f} MiB, "
                f"state {video.state_nbytes() / 2**20:.1f} MiB, caches {video.cache_nbytes / 2**20:.1f} MiB, "
                f"{(time.perf_counter() - start) / step.done:.2f} s/frame",
                flush=True,
            )
    half = [r for d, r in samples if d >= count // 2]
    print(f"RSS over the second half: {min(half):.0f}..{max(half):.0f} MiB; peak {peak_rss_mib():.0f} MiB")


def write_frames(media: Path, count: int, out: Path) -> Path:
    from tests.test_sam3_video_parity import write_frames as write

    return write(media.parent, out, count, (480, 270)) if media.name == "bedroom.mp4" else out


def child(side: str, checkpoint: Path, frames: Path, spec_name: str) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--one",
        side,
        "--checkpoint",
        str(checkpoint),
        "--frames-dir",
        str(frames),
        "--spec",
        spec_name,
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=7, help="frames of bedroom.mp4 (0: no speed run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--checkpoint", type=Path, help="a sam3.pt-layout checkpoint (default: a reduced random one)"
    )
    parser.add_argument("--full", action="store_true", help="the checkpoint has the released sizes")
    parser.add_argument("--rss-frames", type=int, default=0, help="synthetic video length for the memory run")
    parser.add_argument("--one", choices=["ours", "official"], help=argparse.SUPPRESS)
    parser.add_argument("--frames-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spec", default="reduced", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = (
            run_ours(args.checkpoint, args.frames_dir)
            if args.one == "ours"
            else (run_official(args.checkpoint, args.frames_dir, args.spec))
        )
        print(json.dumps(result))
        return
    spec_name = "full" if args.full else "reduced"
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from tests.oracles import sam3_official

            checkpoint = sam3_official.make_checkpoint(Path(tmp) / "sam3.pt", seed=3)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {spec_name} width")
        if args.frames:
            frames = Path(tmp) / "frames"
            frames.mkdir()
            write_frames(ROOT.parent / "shared/media/bedroom.mp4", args.frames, frames)
            runs: dict[str, list[dict[str, float]]] = {"ours": [], "official": []}
            for repeat in range(args.repeats):
                for side in ("ours", "official"):
                    runs[side].append(child(side, checkpoint, frames, spec_name))
                    print(f"  {repeat + 1} {side}: {runs[side][-1]}", flush=True)
            median = {
                side: {key: statistics.median(r[key] for r in results) for key in results[0]}
                for side, results in runs.items()
            }
            for side in ("ours", "official"):
                m = median[side]
                print(
                    f"{side:8s}: add_concept {m['concept_s']:.2f} s, {m['per_frame_s']:.2f} s/frame "
                    f"({m['per_frame_cpu_s']:.2f} CPU-s) over {m['frames']:.0f} frames, "
                    f"peak RSS {m['peak_rss_mib']:.0f} MiB"
                )
            ours, official = median["ours"], median["official"]
            ratio = ours["per_frame_s"] / official["per_frame_s"]
            cpu = ours["per_frame_cpu_s"] / official["per_frame_cpu_s"]
            rss = ours["peak_rss_mib"] / official["peak_rss_mib"]
            print(f"ours / official: {ratio:.2f}× time per frame ({cpu:.2f}× CPU), {rss:.2f}× peak RSS")
        if args.rss_frames:
            rss_run(checkpoint, args.rss_frames)


if __name__ == "__main__":
    main()
