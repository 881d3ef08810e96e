"""Everything issue 22's Proof measures, in one run on one device: ours against the official
code, same random weights, same inputs, alternating call by call so both see the same machine.

Parts (``--parts``, default all):

- ``encoder``: images/s of one image's encode (ours ``encode_image``; official ``set_image``) for
  SAM 2.1 tiny and base+, SAM 1 ViT-H and MobileSAM;
- ``click``: click latency p50/p95 with the embedding cached (ours ``predict`` plus the best
  mask, what the canvas shows first; official ``predict``, which makes every candidate mask),
  the same models, and the mean IoU of the two best masks (both sides answered the same thing);
- ``video``: SAM 2.1 tiny and base+ frames/s at steady state (frames 8 on: the memory bank is
  full) with 1 and 8 objects, masks and logits at video resolution on the host on both sides;
- ``sam3``: SAM 3 at the released size: backbone ms (ours ``encode_image``; official
  ``Sam3Processor.set_image``) and per-phrase ms with the phrase's text already encoded (ours
  ``find_all`` with every kept mask read; official ``_forward_grounding``), instances kept.

Precision: each side as it runs on this device by default. Ours: the model's own choice
(``ModelInfo.compute_dtype``: on CUDA, SAM 2's image encoder and SAM 3 under bf16 autocast).
Official: SAM 2 and SAM 3 under ``torch.autocast("cuda", bfloat16)`` as their READMEs and
notebooks run them on a GPU; SAM 1 and MobileSAM in float32. On a CPU everything is float32.
``--compile`` adds rows of ours with ``torch.compile`` (the image encoders and SAM 2's memory
attention; compiled and warmed up before timing).

    python bench/gpu.py --out gpu.json          # a CUDA machine: the full run (~5-8 min on an H200)
    python bench/gpu.py --smoke --out smoke.json  # anywhere: tiny sizes, one repeat (a CPU check)

Needs the test-only oracles (official segment_anything, mobile_sam, sam2, sam3 packages; see
bench/README.md for a GPU machine without a package index). Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder is sys.path[0]: keep "import sam3" the official package's.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tests.oracles  # noqa: E402, F401  (torchvision shim where torch is a CPU build)

DEFAULT_IMAGE = REPO_ROOT.parent / "shared" / "media" / "truck.jpg"
STEADY_FROM = 7  # first frame index whose memory bank is full (num_maskmem = 7)
# Published figures the issue judges against (device, precision and compile as published).
PUBLISHED = {
    ("encoder", "sam2.1_b+"): "~130 images/s (SAM 2 Hiera B+, A100)",
    ("encoder", "vit_h"): "420 ms (CVAT ViT-H, RTX 3090)",
    ("video", "sam2.1_t"): "91 frames/s (A100, torch.compile)",
    ("video", "sam2.1_b+"): "64 frames/s (A100, torch.compile)",
    ("sam3", "backbone"): "~30 ms per image, 100+ objects (H200)",
}
SAM2_VARIANTS = {"sam2.1_t": "hiera_t", "sam2.1_b+": "hiera_b+"}
SAM1_VARIANTS = {"vit_h": "vit_h", "vit_b": "vit_b", "mobilesam": "vit_t"}


@dataclass
class Sizes:
    """What one run measures: the full run on a GPU, or ``--smoke`` (tiny, anywhere)."""

    encoders: tuple[str, ...]
    video_models: tuple[str, ...]
    video_objects: tuple[int, ...]
    video_frames: int
    video_size: tuple[int, int]  # (width, height) of the synthetic video
    video_model_size: int  # the network's input side: 1024 as released; smaller in a smoke run
    sam3_size: str  # "full" or "reduced"
    encode_repeats: int
    clicks: int
    phrase_repeats: int

    @staticmethod
    def full() -> Sizes:
        return Sizes(("sam2.1_t", "sam2.1_b+", "vit_h", "mobilesam"), ("sam2.1_t", "sam2.1_b+"), (1, 8),
                     40, (1280, 720), 1024, "full", 20, 100, 10)

    @staticmethod
    def smoke() -> Sizes:
        return Sizes(("sam2.1_t", "mobilesam"), ("sam2.1_t",), (1, 2), STEADY_FROM + 2, (320, 240), 256,
                     "reduced", 1, 3, 1)


@dataclass
class Row:
    part: str
    model: str
    metric: str  # what the numbers are, e.g. "images/s"
    ours: float
    official: float
    better: str  # "higher" or "lower"
    precision_ours: str
    precision_official: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """> 1: ours is better."""
        if self.better == "higher":
            return self.ours / self.official if self.official else float("nan")
        return self.official / self.ours if self.ours else float("nan")


# -- timing ------------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """-> (seconds, fn's value), the device idle before and after."""
    synchronize(device)
    start = time.perf_counter()
    value = fn()
    synchronize(device)
    return time.perf_counter() - start, value


def official_precision(device: torch.device, reduced: bool) -> tuple[Callable[[], Any], str]:
    """The official side's context (a factory: one fresh context per use): bf16 autocast on
    CUDA for SAM 2 and SAM 3 (``reduced``), nothing otherwise."""
    if reduced and device.type == "cuda":
        return (lambda: torch.autocast("cuda", dtype=torch.bfloat16)), "bf16 autocast"
    return contextlib.nullcontext, "float32"


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


# -- models on both sides ------------------------------------------------------------------------


@dataclass
class ImagePair:
    name: str
    ours: Any  # an ImageModel
    official: Any  # the official predictor (set_image / predict)
    reduced_official: bool  # run the official side under bf16 autocast on CUDA


def image_pair(name: str, device: torch.device, seed: int = 0) -> ImagePair:
    """Random weights in the official layout, loaded by ours and by the official predictor."""
    if name in SAM2_VARIANTS:
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        from model_runtime.models.sam2.model import from_state_dict
        from tests.oracles import sam2 as oracle

        variant = SAM2_VARIANTS[name]
        torch.manual_seed(seed)
        official_model = oracle.build_official("sam2.1", variant)
        state = oracle.perturb_state_dict(official_model.state_dict(), seed)
        official_model.load_state_dict(state)
        official_model.to(device)
        ours = from_state_dict(state, family="sam2.1", path=f"<random {name}>", device=device)
        return ImagePair(name, ours, SAM2ImagePredictor(official_model), True)
    if name in SAM1_VARIANTS:
        from model_runtime.checkpoints import MOBILESAM, SAM1
        from model_runtime.models.sam1.model import from_state_dict
        from tests.oracles import sam1 as oracle

        variant = SAM1_VARIANTS[name]
        state = oracle.make_state_dict(variant, seed)
        official_model = oracle.build_official(variant)
        official_model.load_state_dict(state)
        official_model.to(device)
        if variant == "vit_t":
            from mobile_sam import SamPredictor
        else:
            from segment_anything import SamPredictor
        family = MOBILESAM if variant == "vit_t" else SAM1
        ours = from_state_dict(state, family=family, path=f"<random {name}>", device=device)
        return ImagePair(name, ours, SamPredictor(official_model), False)
    raise SystemExit(f"unknown model {name!r}; known: {', '.join([*SAM2_VARIANTS, *SAM1_VARIANTS])}")


def compile_ours(model: Any, backend: str) -> None:
    """``--compile``: the model's own compile (image encoder, SAM 2's memory attention), warmed up."""
    from model_runtime.models.common.compilation import CompileOptions, compile_model, warm_up

    compile_model(model, CompileOptions(backend=backend))
    warm_up(model)


# -- parts -------------------------------------------------------------------------------------


def bench_encoder_and_click(
    pair: ImagePair, image: np.ndarray, sizes: Sizes, device: torch.device, label: str
) -> list[Row]:
    ours, official = pair.ours, pair.official
    context, official_dtype = official_precision(device, pair.reduced_official)
    ours_dtype = ours.info.compute_dtype

    def official_set_image() -> None:
        with torch.inference_mode(), context():
            official.set_image(image)

    embedding = ours.encode_image(image)  # warm-up (and cudnn's algorithm search) on both
    ours.encode_image(image)
    official_set_image()
    official_set_image()
    ours_s, official_s = [], []
    for _ in range(sizes.encode_repeats):
        ours_s.append(timed(lambda: ours.encode_image(image), device)[0])
        official_s.append(timed(official_set_image, device)[0])
    ours_med, official_med = statistics.median(ours_s), statistics.median(official_s)
    rows = [Row("encoder", label, "images/s", 1 / ours_med, 1 / official_med, "higher", ours_dtype,
                official_dtype, {"ours_ms": 1000 * ours_med, "official_ms": 1000 * official_med})]

    h, w = image.shape[:2]
    rng = np.random.default_rng(0)
    corners = ([0.05 * w, 0.05 * h], [0.95 * w, 0.95 * h])
    points = rng.uniform(*corners, size=(sizes.clicks + 2, 1, 2)).astype(np.float32)
    label1 = np.array([1])

    def ours_click(p: np.ndarray) -> np.ndarray:
        """The best-scoring candidate, the one mask made before the answer (ADR 0006)."""
        prediction = ours.predict(embedding, points=p, labels=label1, multimask=True)
        return np.asarray(prediction.masks[int(np.argmax(prediction.scores))])

    def official_click(p: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), context():
            masks, scores, _ = official.predict(point_coords=p, point_labels=label1, multimask_output=True)
        return masks[int(np.argmax(scores))]

    for p in points[:2]:  # warm-up
        ours_click(p)
        official_click(p)
    ours_ms, official_ms, ious = [], [], []
    for p in points[2:]:
        t_ours, mask_ours = timed(lambda p=p: ours_click(p), device)
        t_official, mask_official = timed(lambda p=p: official_click(p), device)
        ours_ms.append(1000 * t_ours)
        official_ms.append(1000 * t_official)
        union = np.logical_or(mask_ours, mask_official).sum()
        ious.append(1.0 if union == 0 else float(np.logical_and(mask_ours, mask_official).sum() / union))
    for q in (50, 95):
        rows.append(Row("click", label, f"ms p{q}", percentile(ours_ms, q), percentile(official_ms, q),
                        "lower", ours_dtype, official_dtype,
                        {"best_mask_iou_mean": float(np.mean(ious)), "clicks": len(ours_ms)}))
    return rows


def video_layout(size: tuple[int, int], objects: int) -> tuple[list[tuple[int, int]], int, int]:
    """Where the synthetic video's ``objects`` rectangles start: top-left corners, width, height."""
    width, height = size
    cols = int(np.ceil(np.sqrt(objects)))
    box_w, box_h = width // (2 * cols + 1), height // (2 * cols + 1)
    starts = [((2 * (i % cols) + 1) * box_w, (2 * (i // cols) + 1) * box_h) for i in range(objects)]
    return starts, box_w, box_h


def write_video(folder: Path, frames: int, size: tuple[int, int], objects: int) -> None:
    """``frames`` JPEGs of ``objects`` bright rectangles (:func:`video_layout`) drifting over noise."""
    from PIL import Image

    width, height = size
    rng = np.random.default_rng(1)
    background = rng.integers(0, 70, size=(height, width, 3), dtype=np.uint8)
    colours = rng.integers(120, 256, size=(objects, 3), dtype=np.uint8)
    starts, box_w, box_h = video_layout(size, objects)
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(frames):
        frame = background.copy()
        for (x, y), colour in zip(starts, colours, strict=True):
            dx = int(box_w * 0.5 * np.sin(f / 6))
            frame[y : y + box_h, x + dx : x + dx + box_w] = colour
        Image.fromarray(frame).save(folder / f"{f:05d}.jpg", quality=95)


def bench_video(name: str, objects: int, sizes: Sizes, device: torch.device, workdir: Path,
                compiled: str | None) -> Row:
    """``compiled``: None, or the ``torch.compile`` backend ours runs under."""
    from sam2.build_sam import build_sam2_video_predictor

    from model_runtime.models.sam2.model import Sam2ImageModel, from_state_dict
    from model_runtime.models.sam2.network import Sam2Network
    from tests.oracles import sam2 as oracle

    variant = SAM2_VARIANTS[name]
    folder = workdir / f"video-{objects}"
    starts, box_w, box_h = video_layout(sizes.video_size, objects)
    centres = [(x + box_w / 2, y + box_h / 2) for x, y in starts]
    if not folder.exists():
        write_video(folder, sizes.video_frames, sizes.video_size, objects)
    torch.manual_seed(0)
    side = sizes.video_model_size  # the weights do not depend on it
    official = build_sam2_video_predictor(
        oracle.CONFIGS["sam2.1"][variant], None, device=str(device),
        hydra_overrides_extra=[f"++model.image_size={side}"],
    )
    state_dict = oracle.perturb_state_dict(official.state_dict(), 0)
    official.load_state_dict(state_dict)
    ours = from_state_dict(state_dict, family="sam2.1", path=f"<random {name}>", device=device)
    if side != ours.config.image_size:  # a smoke run: the same network on a smaller input
        network = Sam2Network(dataclasses.replace(ours.config, image_size=side))
        network.load_state_dict(ours.network.state_dict())
        ours = Sam2ImageModel(network, device, ours.info.source)
    if compiled is not None:
        compile_ours(ours, compiled)
    context, official_dtype = official_precision(device, True)
    session = ours.open_video(folder)
    # The official predictor decodes and pre-processes every frame here, outside its steps;
    # ours reads each frame inside its step (a session never holds the decoded video).
    with torch.inference_mode(), context():
        init_s, official_state = timed(lambda: official.init_state(str(folder)), device)
    for obj, (x, y) in enumerate(centres, start=1):
        click = np.array([[x, y]], dtype=np.float32)
        session.add_prompt(0, obj, points=click, labels=[1])
        with torch.inference_mode(), context():
            official.add_new_points_or_box(
                official_state, 0, obj, points=click, labels=np.array([1], np.int32)
            )
    ours_steps = session.propagate()
    official_steps = official.propagate_in_video(official_state)

    def official_step() -> Any:
        with torch.inference_mode(), context():
            index, ids, logits = next(official_steps)
            logits = logits.float().cpu().numpy()  # as ours: logits and masks on the host
            return index, ids, logits, logits > 0

    ours_s, official_s = [], []
    for _ in range(sizes.video_frames):
        ours_s.append(timed(lambda: next(ours_steps), device)[0])
        official_s.append(timed(official_step, device)[0])
    steady_ours = statistics.median(ours_s[STEADY_FROM:])
    steady_official = statistics.median(official_s[STEADY_FROM:])
    session.close()
    label = f"{name} x{objects}" + (" compiled" if compiled is not None else "")
    return Row("video", label, "frames/s", 1 / steady_ours, 1 / steady_official, "higher",
               "float32, bf16 memories", official_dtype,
               {"frames": sizes.video_frames, "size": list(sizes.video_size), "objects": objects,
                "model_size": side, "official_init_state_s": init_s, "first_frame_ms_ours": 1000 * ours_s[0],
                "first_frame_ms_official": 1000 * official_s[0]})


def bench_sam3(sizes: Sizes, image: np.ndarray, device: torch.device, workdir: Path) -> list[Row]:
    from PIL import Image

    from model_runtime import load_model
    from model_runtime.api import Prompts
    from tests.oracles import sam3_official as oracle

    spec = oracle.full_spec() if sizes.sam3_size == "full" else oracle.reduced_spec()
    path = oracle.make_checkpoint(workdir / "sam3.pt", spec=spec, seed=0)
    gc.collect()
    ours = load_model(path, device=str(device))
    full = sizes.sam3_size == "full"
    official = (oracle.build_official_released(path) if full else oracle.load_official(path, spec)).to(device)
    from sam3.model.sam3_image_processor import Sam3Processor

    processor = Sam3Processor(official, device=str(device), confidence_threshold=0.5)
    context, official_dtype = official_precision(device, True)
    cpu_patches: Callable[[], Any] = contextlib.nullcontext
    if device.type != "cuda":
        from tests.oracles.sam3_detector import cpu_patches
    pil = Image.fromarray(image)
    loaded: dict[str, Any] = {}

    def ours_backbone() -> None:
        loaded["embedding"] = ours.encode_image(image)

    def official_backbone() -> None:
        with torch.inference_mode(), context():
            loaded["state"] = processor.set_image(pil)

    for _ in range(2):
        ours_backbone()
        official_backbone()
    ours_s, official_s = [], []
    for _ in range(sizes.encode_repeats):
        ours_s.append(timed(ours_backbone, device)[0])
        official_s.append(timed(official_backbone, device)[0])
    ours_ms, official_ms = 1000 * statistics.median(ours_s), 1000 * statistics.median(official_s)
    ours_dtype = ours.info.compute_dtype
    rows = [Row("sam3", "backbone", "ms", ours_ms, official_ms, "lower", ours_dtype, official_dtype)]

    phrase = "red car"
    with torch.inference_mode(), context():
        text = official.backbone.forward_text([phrase], device=str(device))

    def ours_phrase() -> int:
        found = ours.find_all(loaded["embedding"], Prompts(text=phrase), threshold=0.5)
        return sum(1 for _ in found.masks)

    def official_phrase() -> int:
        state = loaded["state"]
        with torch.inference_mode(), context(), cpu_patches():
            prompt_state = {**state, "backbone_out": {**state["backbone_out"], **text}}
            prompt_state["geometric_prompt"] = official._get_dummy_prompt()
            return len(processor._forward_grounding(prompt_state)["scores"])

    kept_ours, kept_official = ours_phrase(), official_phrase()  # warm-up; text cached on both
    ours_s, official_s = [], []
    for _ in range(sizes.phrase_repeats):
        ours_s.append(timed(ours_phrase, device)[0])
        official_s.append(timed(official_phrase, device)[0])
    ours_ms, official_ms = 1000 * statistics.median(ours_s), 1000 * statistics.median(official_s)
    rows.append(Row("sam3", "phrase", "ms", ours_ms, official_ms, "lower", ours_dtype, official_dtype,
                    {"kept_ours": kept_ours, "kept_official": kept_official, "size": sizes.sam3_size}))
    return rows


# -- the run -----------------------------------------------------------------------------------


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from PIL import Image

    device = torch.device(args.device)
    sizes = Sizes.smoke() if args.smoke else Sizes.full()
    if args.models:
        sizes = dataclasses.replace(sizes, encoders=tuple(args.models.split(",")))
    image = np.array(Image.open(args.image).convert("RGB"))
    if args.smoke:
        image = image[::4, ::4].copy()  # smaller photo: a smoke run checks the paths, not speed
    parts = set(args.parts.split(","))
    rows: list[Row] = []
    started = time.perf_counter()
    torch.set_grad_enabled(False)

    def result() -> dict[str, Any]:
        return {
            "device": device_name(device),
            "device_type": device.type,
            "torch": torch.__version__,
            "smoke": args.smoke,
            "compile": args.compile,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "load_average": round(os.getloadavg()[0], 2),
            "seconds": round(time.perf_counter() - started, 1),
            "rows": [asdict(r) | {"ratio": r.ratio, "published": published(r)} for r in rows],
        }

    def report(new: list[Row]) -> None:
        rows.extend(new)
        for row in new:
            print(f"[{time.perf_counter() - started:6.0f} s] {format_row(row)}", flush=True)
        if args.out is not None:  # after every part: a run cut short still leaves what it measured
            args.out.write_text(json.dumps(result(), indent=2))

    with tempfile.TemporaryDirectory(prefix="samdesk-gpu-bench-") as tmp:
        workdir = Path(tmp)
        if parts & {"encoder", "click"}:
            for name in sizes.encoders:
                pair = image_pair(name, device)
                report(bench_encoder_and_click(pair, image, sizes, device, name))
                if args.compile and name in SAM2_VARIANTS:
                    compile_ours(pair.ours, args.compile_backend)
                    report([r for r in bench_encoder_and_click(pair, image, sizes, device, f"{name} compiled")
                            if r.part == "encoder"])
                del pair
                free(device)
        if "video" in parts:
            for name in sizes.video_models:
                for objects in sizes.video_objects:
                    report([bench_video(name, objects, sizes, device, workdir, compiled=None)])
                    free(device)
                if args.compile:
                    report([bench_video(name, sizes.video_objects[0], sizes, device, workdir,
                                        compiled=args.compile_backend)])
                    free(device)
        if "sam3" in parts:
            report(bench_sam3(sizes, image, device, workdir))
            free(device)
    return result()


def published(row: Row) -> str:
    return PUBLISHED.get((row.part, row.model.split(" ")[0]), "")


def format_row(row: Row) -> str:
    return (f"{row.part:8s} {row.model:22s} {row.metric:9s} ours {row.ours:9.2f}  "
            f"official {row.official:9.2f}  ratio {row.ratio:5.2f}  "
            f"({row.precision_ours} / {row.precision_official})")


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['device']} · torch {result['torch']} · {result['seconds']} s · "
          f"load average {result['load_average']}{' · SMOKE (tiny sizes)' if result['smoke'] else ''}")
    print("| part | model | metric | ours | official | ours vs official | precision (ours / official) "
          "| published |")
    print("|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['part']} | {r['model']} | {r['metric']} | {r['ours']:.2f} | {r['official']:.2f} | "
              f"{r['ratio']:.2f}× | {r['precision_ours']} / {r['precision_official']} | {r['published']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat: checks the script runs")
    parser.add_argument("--parts", default="encoder,click,video,sam3", help="comma-separated subset")
    parser.add_argument("--compile", action="store_true", help="also time ours under torch.compile")
    parser.add_argument("--compile-backend", default="inductor", help="'eager' checks the path quickly")
    parser.add_argument("--models", help="encoder/click models instead of the default, e.g. sam2.1_t,vit_b")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    if not args.image.exists():
        raise SystemExit(f"{args.image}: image not found (pass --image)")
    result = run(args)
    print_table(result)
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
