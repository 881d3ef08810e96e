"""SAM 3 per phrase, stage by stage: ours against the official code in one process, alternating.

The detector at the released sizes (d_model 256, 8 heads, 6 + 6 layers, 200 queries, the pixel
decoder up to 288²) behind a narrow ViT and text encoder (``tests.oracles.sam3_official``'s
reduced widths): a phrase costs what it costs at full size, while the image encoder, the text
encoder and the checkpoint (~150 MB) stay small. Both sides load the same checkpoint and encode
the same photo once; each phrase's text features are known on both sides before timing. Then,
``--rounds`` times, ours and the official answer the same phrases in turn (ours first on even
rounds), so that load from other jobs falls on both alike.

Stages (process CPU seconds and wall, summed over the calls of one answer):

- ``prompt``: the exemplar encoder (official: per phrase; ours: at encode time, 0 here);
- ``encoder``: the fusion encoder (ours reuses the image's first self-attention);
- ``decoder``: the detection decoder (official: with its per-layer box bias);
- ``scoring``: the dot-product scorer;
- ``mask head``: official ``segmentation_head`` (pixel decoder, 200 masks, semantic head);
  ours ``pixel_features`` + ``masks`` (the kept queries only);
- ``rest``: everything else of the answer (post-processing, resizing the kept masks to the
  photo: ours reads every kept mask; official ``_forward_grounding``'s interpolation).

    python bench/sam3_detector.py --checkpoint /tmp/sam3-detector-full.pt --threads 2 --rounds 3
    python bench/sam3_detector.py --phrases 5 --json

The checkpoint is written at ``--checkpoint`` when missing (official builder, seed 0, scores
spread across 0.5 as in ``bench/sam3.py``). Test-only packages (the official ``sam3`` oracle,
torchvision + shim) must be installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_IMAGE = REPO_ROOT.parent / "shared" / "media" / "truck.jpg"
PHRASES = ("yellow school bus", "red car", "person wearing a hat", "dog", "traffic light")
STAGES = ("prompt", "encoder", "decoder", "scoring", "mask head", "rest")


class Clock:
    """Wall and process CPU seconds per stage; ``stage(name)`` adds one timed block."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self._depth = 0

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._depth:  # a stage inside another counts for the outer one
            yield
            return
        self._depth += 1
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] += time.perf_counter() - wall
            self.cpu[name] += time.process_time() - cpu
            self._depth -= 1


def _timed_method(owner: Any, name: str, clock: Clock, stage: str) -> None:
    """Wrap ``owner.name`` (an instance attribute shadows the method) in ``clock.stage(stage)``."""
    method = getattr(owner, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with clock.stage(stage):
            return method(*args, **kwargs)

    setattr(owner, name, wrapped)


def _timed_module(module: Any, clock: Clock, stage: str) -> None:
    """Time every call of ``module`` (forward hooks) as ``stage``."""
    blocks: list[Any] = []

    def before(*_: Any) -> None:
        block = clock.stage(stage)
        block.__enter__()
        blocks.append(block)

    def after(*_: Any) -> None:
        blocks.pop().__exit__(None, None, None)

    module.register_forward_pre_hook(before)
    module.register_forward_hook(after)


def spec() -> Any:
    from tests.oracles import sam3_official as oracle
    from tests.oracles.sam3_detector import DetectorSizes

    return replace(oracle.reduced_spec(), detector=DetectorSizes())


def ours(checkpoint: Path, image: Any, clock: Clock) -> Callable[[tuple[str, ...]], int]:
    from model_runtime import load_model
    from model_runtime.api import Prompts

    model = load_model(checkpoint, device="cpu")
    detector = model.detector
    _timed_module(detector.transformer.encoder, clock, "encoder")
    _timed_module(detector.transformer.decoder, clock, "decoder")
    _timed_module(detector.dot_prod_scoring, clock, "scoring")
    _timed_module(detector.geometry_encoder, clock, "prompt")
    _timed_method(detector, "pixel_features", clock, "mask head")
    _timed_method(detector, "masks", clock, "mask head")
    embedding = model.encode_image(image)
    model.encoders.forward_text(list(PHRASES))  # cached per phrase

    def find(phrases: tuple[str, ...]) -> int:
        kept = 0
        for found in model.find_all(embedding, Prompts(text=phrases)):
            kept += sum(1 for _ in found.masks)
        return kept

    return find


def official(checkpoint: Path, image: Any, clock: Clock) -> Callable[[tuple[str, ...]], int]:
    import torch
    from PIL import Image

    from tests.oracles import sam3_official as oracle
    from tests.oracles.sam3_detector import cpu_patches

    model = oracle.load_official(checkpoint, spec())
    processor = oracle.processor(model)
    _timed_module(model.transformer.encoder, clock, "encoder")
    _timed_module(model.transformer.decoder, clock, "decoder")
    _timed_module(model.dot_prod_scoring, clock, "scoring")
    _timed_module(model.geometry_encoder, clock, "prompt")
    _timed_module(model.segmentation_head, clock, "mask head")
    with torch.inference_mode():
        state = processor.set_image(Image.fromarray(image))
        texts = {p: model.backbone.forward_text([p], device="cpu") for p in PHRASES}

    @torch.inference_mode()
    def find(phrases: tuple[str, ...]) -> int:
        kept = 0
        with cpu_patches():
            for phrase in phrases:
                prompt_state = {**state, "backbone_out": {**state["backbone_out"], **texts[phrase]}}
                prompt_state["geometric_prompt"] = model._get_dummy_prompt()
                kept += len(processor._forward_grounding(prompt_state)["scores"])
        return kept

    return find


def measure(find: Callable[[tuple[str, ...]], int], phrases: tuple[str, ...], clock: Clock) -> dict:
    """One answer: per-stage CPU and wall seconds, ``rest`` = total minus the stages."""
    clock.cpu.clear()
    clock.wall.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    kept = find(phrases)
    total = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    row: dict[str, Any] = {"kept": kept, "total_wall": total["wall"], "total_cpu": total["cpu"]}
    for kind, spent in (("wall", clock.wall), ("cpu", clock.cpu)):
        for stage in STAGES[:-1]:
            row[f"{stage}_{kind}"] = spent.get(stage, 0.0)
        row[f"rest_{kind}"] = total[kind] - sum(spent.get(s, 0.0) for s in STAGES[:-1])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("/tmp/sam3-detector-full.pt"))
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--phrases", type=int, default=1, choices=range(1, len(PHRASES) + 1))
    parser.add_argument("--rounds", type=int, default=3, help="timed answers per side, alternating")
    parser.add_argument("--sides", default="ours,official", help="comma-separated: ours, official")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(args.threads)
    if not args.checkpoint.exists():
        from tests.oracles import sam3_official as oracle

        print(f"writing {args.checkpoint} ...", file=sys.stderr, flush=True)
        oracle.make_checkpoint(args.checkpoint, spec=spec(), seed=0)
    image = np.array(Image.open(args.image).convert("RGB"))
    clock = Clock()
    makers = {"ours": ours, "official": official}
    sides = [s for s in args.sides.split(",") if s]
    finders = {side: makers[side](args.checkpoint, image, clock) for side in sides}
    phrases = PHRASES[: args.phrases]
    for side in sides:  # warm-up
        finders[side](phrases)
    rows: dict[str, list[dict]] = {side: [] for side in sides}
    for round_ in range(args.rounds):
        for side in sides if round_ % 2 == 0 else sides[::-1]:
            rows[side].append(measure(finders[side], phrases, clock))
    result: dict[str, Any] = {
        "threads": args.threads, "phrases": args.phrases, "rounds": args.rounds,
        "load_average": round(os.getloadavg()[0], 1),
    }
    for side in sides:
        for key in rows[side][0]:
            result[f"{side}_{key}"] = statistics.median(r[key] for r in rows[side])
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"SAM 3 detector at released sizes, {args.phrases} phrase(s), {args.threads} threads, "
          f"medians of {args.rounds}, load average {result['load_average']}")
    print(f"{'stage':10s} " + " ".join(f"{s + ' cpu':>13s} {s + ' wall':>13s}" for s in sides)
          + ("   cpu ratio" if len(sides) == 2 else ""))
    for stage in (*STAGES, "total"):
        cells = [f"{result[f'{s}_{stage}_cpu']:13.3f} {result[f'{s}_{stage}_wall']:13.3f}" for s in sides]
        ratio = ""
        if len(sides) == 2 and result[f"{sides[1]}_{stage}_cpu"] > 0:
            ratio = f"   {result[f'{sides[0]}_{stage}_cpu'] / result[f'{sides[1]}_{stage}_cpu']:9.2f}"
        print(f"{stage:10s} " + " ".join(cells) + ratio)
    print("kept: " + ", ".join(f"{s} {result[f'{s}_kept']}" for s in sides))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
