"""SAM 2.1 video propagation: our session against the official ``SAM2VideoPredictor``.

Same random checkpoint (official layout), same frames, one object clicked on frame 0, forward
propagation. Prints per-frame seconds once the memory bank is full (frame >= 7: 1 conditioning
+ 6 recent memories) as a median, frames/s of both and the ratio; and, for our session alone,
the peak RSS and per-object state after N synthetic frames (``--rss-frames``), which shows
whether memory grows with video length.

    /work/venv/bin/python bench/video_propagation.py --frames 10 --rss-frames 100 1000
    /work/venv/bin/python bench/video_propagation.py --frames 10 --count-flops
    /work/venv/bin/python bench/video_propagation.py --frames 0 \
        --rss-frames 100 1000 10000 --rss-image-size 256

Run from the repository root. Needs the test-only oracles (official ``sam2`` package).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tests.oracles  # noqa: E402,F401  (torchvision shim before the official package)
from model_runtime.checkpoints import read_state_dict  # noqa: E402
from model_runtime.models.sam2.model import from_state_dict  # noqa: E402
from model_runtime.models.sam2.network import Sam2Network  # noqa: E402
from model_runtime.models.sam2.video import VideoConfig, VideoSession  # noqa: E402
from tests.oracles.sam2 import CONFIGS, make_checkpoint  # noqa: E402

STEADY_FROM = 7  # first frame whose memory bank is full (num_maskmem = 7)


def rss_mib() -> float:
    """Current resident set size (MiB), from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def write_frames(media: Path, count: int, out: Path) -> Path:
    import av
    from PIL import Image

    with av.open(str(media)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == count:
                break
            small = frame.to_image().resize((480, 270), Image.Resampling.BILINEAR)
            small.save(out / f"{i:05d}.jpg", quality=95)
    return out


def count_flops(step) -> dict[str, float]:
    """Run ``step()`` under the PyTorch profiler -> GFLOP by operator, plus "total".

    The profiler's own FLOP formulas cover matrix products and convolutions; fused attention
    (``scaled_dot_product_attention``, which the official code uses) is counted here from its
    recorded shapes: the score product q·kᵀ plus the mixing of the values. (``FlopCounterMode``
    cannot be used: it sees nothing under the official predictor's ``inference_mode``.)"""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        step()
    counts: dict[str, float] = {}
    for event in prof.events():
        name = event.name.removeprefix("aten::")
        flops = event.flops or 0
        if name.startswith("_scaled_dot_product") and event.input_shapes:
            q, k, v = event.input_shapes[:3]
            flops = 2 * q[0] * q[1] * q[2] * k[2] * (q[3] + v[3])
        if flops:
            counts[name] = counts.get(name, 0.0) + flops / 1e9
    by_op = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    return {**by_op, "total": sum(by_op.values())}


def sgemm_peak(size: int = 4096, repeats: int = 5) -> float:
    """This machine's float32 matrix-product rate (GFLOP/s, best of ``repeats``): the ceiling
    for any exact implementation's arithmetic."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_both(
    ckpt: Path,
    frames: Path,
    click: np.ndarray,
    official: bool,
    flops: dict[str, dict[str, float]] | None = None,
    cpu: dict[str, list[float]] | None = None,
) -> tuple[list[float], list[float]]:
    """Per-frame seconds of ours and of the official predictor, stepped alternately frame by frame
    so both see the same machine load (this CPU is shared). With ``flops`` (a dict to fill), the
    last frame is not timed but its arithmetic is counted, for "ours" and "official". With ``cpu``
    (a dict to fill), each frame's CPU seconds of the process too (fairer on a loaded machine)."""
    model = from_state_dict(read_state_dict(ckpt), family="sam2.1", path=ckpt, device="cpu")
    session = VideoSession(model.network, model.device, frames)
    session.add_prompt(0, 1, points=click, labels=[1])
    ours_steps = session.propagate()
    official_steps = iter(())
    if official:
        from sam2.build_sam import build_sam2_video_predictor

        predictor = build_sam2_video_predictor(CONFIGS["sam2.1"]["hiera_t"], str(ckpt), device="cpu")
        state = predictor.init_state(str(frames))
        with torch.inference_mode():
            predictor.add_new_points_or_box(state, 0, 1, points=click, labels=np.array([1], np.int32))
        official_steps = predictor.propagate_in_video(state)
    ours_times: list[float] = []
    official_times: list[float] = []
    for index in range(session.num_frames):
        if flops is not None and index == session.num_frames - 1:
            flops["ours"] = count_flops(lambda: next(ours_steps))
            if official:
                with torch.inference_mode():
                    flops["official"] = count_flops(lambda: next(official_steps))
            break
        start = time.process_time()
        ours_times.append(_seconds(lambda: next(ours_steps)))
        if cpu is not None:
            cpu.setdefault("ours", []).append(time.process_time() - start)
        if official:
            start = time.process_time()
            with torch.inference_mode():
                official_times.append(_seconds(lambda: next(official_steps)))
            if cpu is not None:
                cpu.setdefault("official", []).append(time.process_time() - start)
    return ours_times, official_times


def time_runtime(ckpt: Path, frames: Path, click: np.ndarray, alone: int | None) -> list[float]:
    """Per-frame seconds of the same propagation run as the GUI runs it: a ``track_video`` job on
    the runtime's background thread (SCHED_IDLE, the runtime's thread plan; ``alone``
    overrides its count while no click runs), nothing else running. Seconds between the
    frames' arrivals (the first frame: from the job's start), as the user sees them."""
    from model_runtime.api import Prompts
    from model_runtime.runtime import Callbacks, Runtime, RuntimeConfig, TrackPrompt, track_video

    model = from_state_dict(read_state_dict(ckpt), family="sam2.1", path=ckpt, device="cpu")
    config = RuntimeConfig(disk_cache=False, background_threads_alone=alone)
    arrivals: list[float] = []
    with Runtime(config, loader=lambda source, device: model) as runtime:
        runtime.load_model("bench").result()
        prompt = TrackPrompt(1, 0, prompts=Prompts(points=[tuple(map(float, click[0]))], labels=[1]))
        start = time.perf_counter()
        handle = runtime.run_job(
            track_video(str(frames), [prompt]),
            callbacks=Callbacks(on_partial=lambda _rid, _frame: arrivals.append(time.perf_counter())),
        )
        handle.result()
        print(f"runtime threads {runtime.thread_counts()}, background while alone: "
              f"{alone if alone is not None else 'planned'}")
    return list(np.diff([start, *arrivals]))


def rss_run(
    ckpt: Path, num_frames: int, retain_radius: int, image_size: int = 1024
) -> tuple[float, float, int]:
    """Propagate one object through ``num_frames`` synthetic frames (a bright square drifting on
    noise, 320×240): -> (peak RSS MiB during the run, RSS at the end, per-object state bytes).

    ``image_size`` below the official 1024 runs the same network and bookkeeping on a smaller
    input (the weights do not depend on it), so that thousands of frames fit in minutes on a CPU:
    what is measured is whether memory grows with video length, not speed."""
    rng = np.random.default_rng(0)
    background = rng.integers(0, 80, size=(240, 320, 3), dtype=np.uint8)

    class Synthetic:
        frame_size = (240, 320)

        def __len__(self) -> int:
            return num_frames

        def read(self, index: int) -> np.ndarray:
            frame = background.copy()
            x = 40 + (index * 3) % 200
            frame[80:160, x : x + 60] = 230
            return frame

    model = from_state_dict(read_state_dict(ckpt), family="sam2.1", path=ckpt, device="cpu")
    network = model.network
    if image_size != network.config.image_size:
        network = Sam2Network(dataclasses.replace(network.config, image_size=image_size)).eval()
        network.load_state_dict(model.network.state_dict())
    session = VideoSession(
        network, model.device, Synthetic(),
        VideoConfig(feature_cache_bytes=64 * 2**20, retain_radius=retain_radius),
    )
    session.add_prompt(0, 1, points=[[70.0, 120.0]], labels=[1])
    peak = rss_mib()
    for step in session.propagate():
        peak = max(peak, rss_mib())
        if step.done % 50 == 0:
            print(f"  frame {step.frame_index}: RSS {rss_mib():.0f} MiB, state "
                  f"{session.state_nbytes() / 2**20:.1f} MiB", flush=True)
    return peak, rss_mib(), session.state_nbytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10, help="frames of bedroom.mp4 to time (>= 8)")
    default_media = Path(__file__).resolve().parents[2] / "shared/media/bedroom.mp4"
    parser.add_argument("--media", type=Path, default=default_media)
    parser.add_argument("--rss-frames", type=int, nargs="*", default=[], help="synthetic video lengths")
    parser.add_argument("--retain-radius", type=int, default=VideoConfig.retain_radius)
    parser.add_argument("--skip-official", action="store_true")
    parser.add_argument(
        "--count-flops", action="store_true",
        help="count the arithmetic of the last (steady) frame of both instead of timing it",
    )
    parser.add_argument(
        "--rss-image-size", type=int, default=1024,
        help="model input size for the --rss-frames runs (e.g. 256 for 10,000 frames in ~1 h)",
    )
    parser.add_argument(
        "--runtime", type=int, nargs="*", default=None, metavar="THREADS",
        help="also time the propagation as the GUI runs it (a runtime job on the background thread), "
        "once per value: the background thread's intra-op threads while no click runs (0: the plan)",
    )
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    print(f"torch threads: {torch.get_num_threads()}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        ckpt = make_checkpoint("sam2.1", "hiera_t", tmp_path / "sam2.1_hiera_tiny.pt", seed=3)
        (tmp_path / "frames").mkdir()
        frames = write_frames(args.media, args.frames, tmp_path / "frames")
        click = np.array([[250.0, 160.0]], dtype=np.float32)
        if args.frames > STEADY_FROM:
            flops: dict[str, dict[str, float]] | None = {} if args.count_flops else None
            cpu: dict[str, list[float]] = {}
            ours, official = time_both(ckpt, frames, click, not args.skip_official, flops, cpu)
            for who, counts in (flops or {}).items():
                ops = ", ".join(f"{op} {g:.1f}" for op, g in counts.items() if op != "total" and g >= 0.05)
                print(f"{who} GFLOP on the last frame: {counts['total']:.1f} ({ops})")
            if flops:
                peak = sgemm_peak()
                floor = flops["ours"]["total"] / peak
                print(f"float32 matrix product peak {peak:.0f} GFLOP/s: "
                      f"ours cannot go below {floor:.2f} s/frame")
            gc.collect()
            ours_steady = statistics.median(ours[STEADY_FROM:])
            print(f"ours:     s/frame {[round(t, 2) for t in ours]}  steady median {ours_steady:.2f} s "
                  f"= {1 / ours_steady:.3f} frames/s")
            if official:
                off_steady = statistics.median(official[STEADY_FROM:])
                print(f"official: s/frame {[round(t, 2) for t in official]}  median {off_steady:.2f} s "
                      f"= {1 / off_steady:.3f} frames/s")
                print(f"speed-up at steady state: {off_steady / ours_steady:.2f}x")
                if cpu:
                    ours_cpu = statistics.median(cpu["ours"][STEADY_FROM:])
                    off_cpu = statistics.median(cpu["official"][STEADY_FROM:])
                    print(f"CPU s/frame at steady state: ours {ours_cpu:.2f}, official {off_cpu:.2f}, "
                          f"{off_cpu / ours_cpu:.2f}x")
            for threads in args.runtime or []:
                gc.collect()
                alone = threads or None
                times = time_runtime(ckpt, frames, click, alone)
                steady = statistics.median(times[STEADY_FROM:])
                # Ours again right after, so that the ratio compares runs close in time.
                again, _ = time_both(ckpt, frames, click, False)
                direct = statistics.median(again[STEADY_FROM:])
                print(f"runtime job (alone: {threads or 'plan'}): s/frame {[round(t, 2) for t in times]}  "
                      f"steady median {steady:.2f} s; ours direct just after {direct:.2f} s; "
                      f"GUI/bench frames/s {direct / steady:.2f}")
        for n in args.rss_frames:
            start = time.perf_counter()
            peak, end, state = rss_run(ckpt, n, args.retain_radius, args.rss_image_size)
            seconds = time.perf_counter() - start
            print(f"{n} synthetic frames at {args.rss_image_size}² ({seconds:.0f} s): "
                  f"peak RSS {peak:.0f} MiB, end RSS {end:.0f} MiB, "
                  f"per-object state {state / 2**20:.1f} MiB")
            gc.collect()


if __name__ == "__main__":
    main()
