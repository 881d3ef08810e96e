"""SAM 3: ours against the official code on the same random weights, same photo, same threads.

Each side runs in its own child process (so that its peak RSS is its own), loading the same
``sam3.pt``-layout checkpoint; children of the two sides alternate, ``--rounds`` times, so that
load from other jobs on a shared machine hits both alike. Parts:

- ``load``: checkpoint file -> a model ready for every prompt (ours: ``load_model``; official:
  ``build_sam3_image_model(enable_inst_interactivity=True)`` with the checkpoint, CPU);
- ``backbone``: one photo -> everything ``find_all`` and ``predict`` need from the image (ours:
  pre-processing, ViT, both necks with the tracker's ``conv_s0``/``conv_s1``, the interactive
  head's per-image tensors; official: ``Sam3Processor.set_image``, which does the same);
- ``text``: one new phrase -> its features (ours with the per-phrase cache emptied first;
  official ``backbone.forward_text``);
- ``phrase``: one phrase -> its kept instances with their masks at the photo's size, the phrase's
  text features already known on both sides (ours: ``find_all`` then every kept mask read;
  official: ``Sam3Processor._forward_grounding``, what ``set_text_prompt`` runs after encoding
  the text: detector, 200 masks, the kept ones resized);
- ``phrases5``: five phrases (ours: one ``find_all`` with ``Prompts(text=(5 phrases))``, every
  kept mask read; official: five ``_forward_grounding`` calls);
- peak RSS of each side's process (``ru_maxrss``), over the whole run.

Medians of ``--repeats`` timed runs per round after one warm-up, wall and process CPU time.
Ours' ``backbone`` is ``encode_image``: it includes the detector's per-image work (the pixel
decoder's image-only convolutions, the first fusion self-attention), which the official code
repeats for every phrase instead. The ``phrase`` parts also report how many instances each side
kept (checkpoints written by this script spread detector scores across 0.5; a file made without
that tweak keeps nothing, and then no mask is ever made on either side).

    python bench/sam3.py --size full --checkpoint /tmp/sam3-random.pt --threads 2 --repeats 3
    python bench/sam3.py --size reduced            # the test suite's reduced width, a smoke run

``--size full`` writes a 3.4 GB checkpoint the first time (kept at ``--checkpoint``) and needs
~4-10 GB of memory per side: run one at a time (``flock /work/wt/BIGRUN.lock nice -n 10 ...``).
Test-only packages (the official ``sam3`` oracle, torchvision + shim) must be installed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder is sys.path[0], and "import sam3" would import this file
# instead of the official package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_IMAGE = REPO_ROOT.parent / "shared" / "media" / "truck.jpg"
PHRASES = ("yellow school bus", "red car", "person wearing a hat", "dog", "traffic light")


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """-> (wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# -- the two sides (run in child processes) ----------------------------------------------------


def _ours(checkpoint: Path, size: str) -> dict[str, Callable[..., Any]]:
    """``load_model`` on the file; -> the callables each part times (see :data:`PARTS`)."""

    from model_runtime import load_model
    model = load_model(checkpoint, device="cpu")
    encoders = model.encoders
    loaded: dict[str, Any] = {"model": model}

    def backbone(image: Any) -> Any:
        loaded["embedding"] = model.encode_image(image)
        return loaded["embedding"]

    def text(phrase: str) -> Any:
        encoders.clear_text_cache()
        return encoders.forward_text([phrase])

    def find(image: Any, phrases: tuple[str, ...]) -> int:
        """Kept instances over ``phrases`` (one find_all), every kept mask made."""
        from model_runtime.api import Prompts

        embedding = loaded.get("embedding") or backbone(image)
        kept = 0
        for found in model.find_all(embedding, Prompts(text=phrases)):
            kept += sum(1 for _ in found.masks)
        return kept

    loaded.update(backbone=backbone, text=text, find=find)
    return loaded


def _official(checkpoint: Path, size: str) -> dict[str, Callable[..., Any]]:
    import torch
    from PIL import Image

    from tests.oracles import sam3_official as oracle

    full = size == "full"
    model = oracle.build_official_released(checkpoint) if full else oracle.load_official(checkpoint)
    processor = oracle.processor(model)

    loaded: dict[str, Any] = {"model": model, "processor": processor}

    @torch.inference_mode()
    def backbone(image: Any) -> Any:
        loaded["state"] = processor.set_image(Image.fromarray(image))
        return loaded["state"]

    @torch.inference_mode()
    def text(phrase: str) -> Any:
        return model.backbone.forward_text([phrase], device="cpu")

    texts: dict[str, Any] = {}

    @torch.inference_mode()
    def find(image: Any, phrases: tuple[str, ...]) -> int:
        """Kept instances over ``phrases``: one ``_forward_grounding`` per phrase, each on the
        image's state with that phrase's text features (encoded once, outside the timing)."""
        from tests.oracles.sam3_detector import cpu_patches

        state = loaded.get("state") or backbone(image)
        kept = 0
        with cpu_patches():
            for phrase in phrases:
                if phrase not in texts:
                    texts[phrase] = text(phrase)
                prompt_state = {**state, "backbone_out": {**state["backbone_out"], **texts[phrase]}}
                prompt_state["geometric_prompt"] = model._get_dummy_prompt()
                kept += len(processor._forward_grounding(prompt_state)["scores"])
        return kept

    loaded.update(backbone=backbone, text=text, find=find)
    return loaded


def child(side: str, checkpoint: Path, size: str, image_path: Path, threads: int, repeats: int) -> dict:
    """One side's measurements. Each part is a function of the loaded side and the image that
    returns its timed samples; more parts (the detector's) are added to :data:`CHILD_PARTS`."""
    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(threads)
    image = np.array(Image.open(image_path).convert("RGB"))
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    loaded = _ours(checkpoint, size) if side == "ours" else _official(checkpoint, size)
    load = (time.perf_counter() - start_wall, time.process_time() - start_cpu)
    measured: dict[str, Any] = {"side": side, "load": [load]}
    for part, run in CHILD_PARTS.items():
        measured[part] = run(loaded, image, repeats)
    measured["peak_rss_mib"] = _peak_rss_mib()
    measured["kept"] = loaded.get("kept", {})
    return measured


def _backbone_part(loaded: dict, image: Any, repeats: int) -> list[tuple[float, float]]:
    loaded["backbone"](image)  # warm-up
    return [_timed(lambda: loaded["backbone"](image)) for _ in range(repeats)]


def _text_part(loaded: dict, image: Any, repeats: int) -> list[tuple[float, float]]:
    loaded["text"](PHRASES[-1])  # warm-up
    return [_timed(lambda p=p: loaded["text"](p)) for p in (PHRASES * repeats)[:repeats]]


def _phrases_part(count: int) -> Callable[[dict, Any, int], list[tuple[float, float]]]:
    """``count`` phrases -> kept instances and their masks (text features known on both sides)."""

    def part(loaded: dict, image: Any, repeats: int) -> list[tuple[float, float]]:
        phrases = PHRASES[:count]
        loaded.setdefault("kept", {})[count] = loaded["find"](image, phrases)  # warm-up, text cached
        return [_timed(lambda: loaded["find"](image, phrases)) for _ in range(repeats)]

    return part


# part name -> fn(loaded side, image, repeats) -> [(wall s, CPU s), ...]; "load" is timed by child().
CHILD_PARTS: dict[str, Callable[[dict, Any, int], list[tuple[float, float]]]] = {
    "backbone": _backbone_part,
    "text": _text_part,
    "phrase": _phrases_part(1),
    "phrases5": _phrases_part(5),
}


# -- the parent -------------------------------------------------------------------------------


def make_checkpoint(path: Path, size: str) -> Path:
    from tests.oracles import sam3_official as oracle

    spec = oracle.full_spec() if size == "full" else oracle.reduced_spec()
    # The default detector tweak spreads query scores across 0.5, so that the phrase parts keep
    # instances and make masks (official init: every score ~0.19, nothing kept).
    return oracle.make_checkpoint(path, spec=spec, seed=0)


def _run_child(args: argparse.Namespace, side: str, checkpoint: Path) -> dict:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--child", side, "--checkpoint", str(checkpoint),
        "--size", args.size, "--image", str(args.image), "--threads", str(args.threads),
        "--repeats", str(args.repeats),
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} child failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(rows: list[dict], part: str, index: int) -> float:
    return statistics.median(sample[index] for row in rows for sample in row[part])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("full", "reduced"), default="reduced")
    parser.add_argument("--checkpoint", type=Path, help="sam3.pt-layout file to use (made there if missing)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per part per child (≥ 3)")
    parser.add_argument("--rounds", type=int, default=1, help="child pairs (ours, official) to run")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    parser.add_argument("--child", choices=("ours", "official"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        measured = child(args.child, args.checkpoint, args.size, args.image, args.threads, args.repeats)
        print(json.dumps(measured))
        return 0
    if not args.image.exists():
        raise SystemExit(f"{args.image}: image not found (pass --image)")
    with tempfile.TemporaryDirectory(prefix="samdesk-bench-sam3-") as tmp:
        checkpoint = args.checkpoint or Path(tmp) / "sam3.pt"
        if not checkpoint.exists():
            print(f"writing a random {args.size} checkpoint to {checkpoint} ...", file=sys.stderr, flush=True)
            make_checkpoint(checkpoint, args.size)
        rows: dict[str, list[dict]] = {"ours": [], "official": []}
        for round_ in range(args.rounds):
            order = ("ours", "official") if round_ % 2 == 0 else ("official", "ours")
            for side in order:
                rows[side].append(_run_child(args, side, checkpoint))
    load = os.getloadavg()[0]
    result: dict[str, Any] = {"size": args.size, "threads": args.threads, "repeats": args.repeats,
                              "rounds": args.rounds, "load_average": round(load, 1)}
    for part in ("load", *CHILD_PARTS):
        for index, kind in ((0, "wall"), (1, "cpu")):
            ours, official = _median(rows["ours"], part, index), _median(rows["official"], part, index)
            result[f"{part}_{kind}_ours_s"] = round(ours, 4)
            result[f"{part}_{kind}_official_s"] = round(official, 4)
            result[f"{part}_{kind}_ratio"] = round(ours / official, 3)
    for side in ("ours", "official"):
        result[f"peak_rss_{side}_mib"] = round(max(row["peak_rss_mib"] for row in rows[side]))
        result[f"kept_{side}"] = rows[side][0].get("kept", {})
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"SAM 3 {args.size}, {args.threads} threads, {args.rounds} round(s) x {args.repeats} runs, "
          f"load average {load:.1f}")
    print(f"{'part':10s} {'ours s':>9s} {'official s':>11s} {'ratio':>6s}   "
          f"{'(CPU: ours':>11s} {'official':>9s} {'ratio)':>7s}")
    for part in ("load", *CHILD_PARTS):
        print(
            f"{part:10s} {result[f'{part}_wall_ours_s']:9.3f} {result[f'{part}_wall_official_s']:11.3f} "
            f"{result[f'{part}_wall_ratio']:6.2f}   {result[f'{part}_cpu_ours_s']:11.3f} "
            f"{result[f'{part}_cpu_official_s']:9.3f} {result[f'{part}_cpu_ratio']:7.2f}"
        )
    print(f"peak RSS   ours {result['peak_rss_ours_mib']} MiB, "
          f"official {result['peak_rss_official_mib']} MiB")
    print(f"kept instances (phrases: count)  ours {result['kept_ours']}, official {result['kept_official']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
