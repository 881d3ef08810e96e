"""Click-to-result latency of the runtime, the way the GUI drives it.

    python bench/click_latency.py --model CHECKPOINT.pt [--clicks N] [--json]
    python bench/click_latency.py --model synthetic          # SAM-shaped stand-in, no weights

The photo's embedding is cached first; then random clicks are made one after another (the next
when the previous answer arrived, after a short "think" pause) and the time from
``Runtime.predict`` to its result callback is recorded in three situations:

  idle               nothing else runs;
  background_encode  encodes of other images (at "current image" priority) run back to back;
  prefetch           prefetch encodes of other images run back to back;
  tracking           a tracking run (``track_video``, as Video ▸ Track starts it) propagates an
                     object through a video of the other images panning (video models only;
                     ``frames_tracked`` says how far it got during the clicks).

With ``--json`` the last line is one JSON object:
``{"model", "idle": {"p50_ms", "p95_ms"}, "background_encode": {...}, "prefetch": {...}, "clicks", ...}``.

On a shared VM the tail is mostly the hypervisor's: each situation also reports
``clicks_with_steal`` (clicks during which /proc/stat counted stolen CPU time), ``steal_ms`` and
the p95 of the other clicks. The headline p50/p95 include every click.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from model_runtime.api import Capability, ImageModel, Prompts  # noqa: E402
from model_runtime.runtime import Callbacks, PredictResult, Runtime, RuntimeConfig  # noqa: E402

MEDIA_DIR = Path(os.environ.get("SAMDESK_TEST_MEDIA", REPO_ROOT.parent / "shared" / "media"))


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.array(img.convert("RGB"))


def build_model(name: str, device: str | None) -> ImageModel:
    if name.startswith("synthetic"):
        from synthetic_model import SyntheticSamLikeModel  # bench/ is sys.path[0] when run as a script

        depth = int(name.split(":")[1]) if ":" in name else 6
        return SyntheticSamLikeModel(depth=depth)
    from model_runtime import load_model

    return load_model(name, device=device)


class BackgroundLoad:
    """Keeps the background thread busy: a new encode of a never-cached key as each one ends."""

    def __init__(self, runtime: Runtime, images: list[np.ndarray], prefetch: bool):
        self.runtime, self.images, self.prefetch = runtime, images, prefetch
        self.count = 0
        self.encode_seconds: list[float] = []
        self._stop = threading.Event()
        self._handle = None

    def start(self) -> None:
        self._submit()

    def _submit(self) -> None:
        if self._stop.is_set():
            return
        image = self.images[self.count % len(self.images)]
        self.count += 1
        self._handle = self.runtime.encode(
            f"bench-background-{time.monotonic_ns()}",
            0,
            lambda: image,
            prefetch=self.prefetch,
            callbacks=Callbacks(on_result=self._done, on_error=self._done),
        )

    def _done(self, _rid: int, result: object) -> None:
        seconds = getattr(result, "seconds", None)
        if seconds is not None:
            self.encode_seconds.append(seconds)
        self._submit()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()


class TrackingLoad:
    """Keeps the background thread busy the way Video ▸ Track does: one ``track_video`` job over
    a long video (the other images, panning), cancelled at the end."""

    def __init__(self, runtime: Runtime, images: list[np.ndarray], frames: int = 2000):
        from model_runtime.runtime import TrackPrompt, track_video

        h, w = min(i.shape[0] for i in images), min(i.shape[1] for i in images)
        size = (min(h, 720), min(w, 1280))
        stills = [np.ascontiguousarray(i[: size[0], : size[1]]) for i in images]

        class Panning:
            frame_size = size

            def __len__(self) -> int:
                return frames

            def read(self, index: int) -> np.ndarray:
                return np.roll(stills[(index // 50) % len(stills)], 4 * index, axis=1)

        mask = np.zeros(size, bool)
        mask[size[0] // 4 : size[0] // 2, size[1] // 4 : size[1] // 2] = True
        self.runtime = runtime
        self.job = track_video(Panning(), [TrackPrompt(1, 0, mask=mask)])
        self.frames_tracked = 0
        self.started = threading.Event()
        self._handle = None

    def start(self) -> None:
        self._handle = self.runtime.run_job(self.job, callbacks=Callbacks(on_partial=self._tracked))
        # Clicks are timed from the first propagated frame on (the prompt's frame is encoded first).
        if not self.started.wait(600):
            raise SystemExit("tracking did not reach its first frame in 10 minutes")

    def _tracked(self, _rid: int, _frame: object) -> None:
        self.frames_tracked += 1
        self.started.set()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


def stolen_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests, all cores together (Linux /proc/stat
    "steal", 10 ms ticks); None elsewhere. On a shared VM it is what makes a click's tail: a
    click during which a core was taken away waits for it at its next OpenMP barrier."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run_clicks(runtime: Runtime, media_key: str, size: tuple[int, int], n: int, think_s: float, seed: int):
    rng = np.random.default_rng(seed)
    h, w = size
    latencies, model_seconds, stolen = [], [], []
    done = threading.Event()
    arrived: list[float] = []
    errors: list[BaseException] = []

    def on_result(_rid: int, result: PredictResult) -> None:
        arrived.append(time.perf_counter())
        model_seconds.append(result.seconds)
        done.set()

    def on_error(_rid: int, exc: BaseException) -> None:
        errors.append(exc)
        done.set()

    for _ in range(n):
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        done.clear()
        steal_before = stolen_seconds()
        start = time.perf_counter()
        runtime.predict(
            "bench-object",
            media_key,
            0,
            Prompts(points=[(x, y)], labels=[1]),
            callbacks=Callbacks(on_result=on_result, on_error=on_error),
        )
        if not done.wait(600):
            raise SystemExit("a click got no answer in 10 minutes")
        if errors:
            raise SystemExit(f"predict failed: {errors[0]!r}")
        latencies.append(arrived[-1] - start)
        steal_after = stolen_seconds()
        if steal_before is not None and steal_after is not None:
            stolen.append(steal_after - steal_before)
        time.sleep(think_s)
    return latencies, model_seconds, stolen


def summarise(latencies: list[float], model_seconds: list[float], stolen: list[float]) -> dict[str, object]:
    """Click-to-result percentiles, the runtime's own share (latency minus the model call), and
    how many clicks the hypervisor took CPU time from (the percentiles include those clicks)."""
    ms = np.asarray(latencies) * 1000
    overhead = ms - np.asarray(model_seconds) * 1000
    summary: dict[str, object] = {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
        "model_p50_ms": round(float(np.median(model_seconds)) * 1000, 1),
        "overhead_p50_ms": round(float(np.percentile(overhead, 50)), 2),
        "overhead_p95_ms": round(float(np.percentile(overhead, 95)), 2),
    }
    if len(stolen) == len(ms):
        hit = np.asarray(stolen) > 0
        summary["clicks_with_steal"] = int(hit.sum())
        summary["steal_ms"] = round(float(np.sum(stolen)) * 1000, 1)
        clean = ms[~hit]
        p95_clean = round(float(np.percentile(clean, 95)), 1) if clean.size else None
        summary["p95_ms_clicks_without_steal"] = p95_clean
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint path, 'classical', or 'synthetic[:depth]'")
    parser.add_argument("--device", default=None)
    parser.add_argument("--clicks", type=int, default=30, help="measured clicks per situation")
    parser.add_argument(
        "--think-ms", type=float, default=50.0, help="pause between an answer and the next click"
    )
    parser.add_argument("--image", default=str(MEDIA_DIR / "truck.jpg"))
    parser.add_argument("--background-threads", type=int, default=None, help="override the runtime's plan")
    parser.add_argument("--interactive-threads", type=int, default=None, help="override the runtime's plan")
    parser.add_argument("--background-nice", type=int, default=None, help="override (0 = no priority drop)")
    parser.add_argument(
        "--no-background-idle",
        action="store_true",
        help="keep the background thread out of SCHED_IDLE (nice only), to compare",
    )
    parser.add_argument(
        "--background-threads-alone", type=int, default=None,
        help="override the background thread's count while no click is running (the runtime's plan)",
    )
    parser.add_argument(
        "--situations", nargs="*", choices=["idle", "background_encode", "prefetch", "tracking"],
        help="only these (default: all the model can do)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    photo = read_rgb(Path(args.image))
    others = [read_rgb(MEDIA_DIR / name) for name in ("groceries.jpg", "dog.jpg", "cars.jpg")]
    config = RuntimeConfig(
        disk_cache_dir=tempfile.mkdtemp(prefix="samdesk-bench-cache-"),
        interactive_threads=args.interactive_threads,
        background_threads=args.background_threads,
        background_threads_alone=args.background_threads_alone,
    )
    if args.background_nice is not None:
        config.background_nice = args.background_nice
    config.background_idle = not args.no_background_idle
    runtime = Runtime(config)
    try:
        info = runtime.load_model(build_model(args.model, args.device)).result()
        media_key = "bench-photo"
        encode = runtime.encode(media_key, 0, lambda: photo).result()
        log(
            f"{info.display_name} on {info.device}; threads {runtime.thread_counts()}; "
            f"encode {encode.seconds:.2f} s"
        )
        run_clicks(runtime, media_key, photo.shape[:2], 3, args.think_ms / 1000, seed=99)  # warm-up

        report: dict[str, object] = {"model": args.model}
        situations: list[tuple[str, bool | None]] = [
            ("idle", None), ("background_encode", False), ("prefetch", True)
        ]
        if Capability.VIDEO in info.capabilities:
            situations.append(("tracking", None))
        chosen = set(args.situations or [name for name, _ in situations])
        for situation, prefetch in situations:
            if situation not in chosen:
                continue
            load: BackgroundLoad | TrackingLoad | None = None
            if situation == "tracking":
                load = TrackingLoad(runtime, others)
            elif prefetch is not None:
                load = BackgroundLoad(runtime, others, prefetch)
            if load is not None:
                load.start()
            tracked_before = getattr(load, "frames_tracked", 0)
            start = time.perf_counter()
            lat, model_s, stolen = run_clicks(
                runtime, media_key, photo.shape[:2], args.clicks, args.think_ms / 1000, seed=1
            )
            seconds = time.perf_counter() - start
            if load is not None:
                load.stop()
            report[situation] = summarise(lat, model_s, stolen)
            if isinstance(load, BackgroundLoad):
                report[situation]["encodes_started"] = load.count  # type: ignore[index]
            if isinstance(load, TrackingLoad):
                frames = load.frames_tracked - tracked_before
                report[situation]["frames_tracked"] = frames  # type: ignore[index]
                report[situation]["tracked_frames_per_s"] = round(frames / seconds, 3)  # type: ignore[index]
            log(f"{situation:>18}: {report[situation]}")
        report.update(
            clicks=args.clicks,
            threads=runtime.thread_counts(),
            background_nice=config.background_nice,
            background_idle=config.background_idle,
            encode_s=round(encode.seconds, 2),
            cpu_count=os.cpu_count(),
            load_average=[round(x, 1) for x in os.getloadavg()],
        )
    finally:
        # Waits for the last background encode (a running model call is never interrupted):
        # with the default 10 s a ViT-B encode (~20 s) outlived the join, and the interpreter
        # then exited under it ("terminate called without an active exception").
        runtime.close(timeout=None)
    if args.json:
        print(json.dumps(report))
    return 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
