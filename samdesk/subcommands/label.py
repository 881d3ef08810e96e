"""``samdesk label PATH... --text car --text person --model sam3.pt --project OUT.samdesk.json``:
label every image with a phrase set (SAM 3) or segment everything (``--everything``, SAM 1/2).

Images, folders (recursively) or projects are labelled into the project (created if missing);
each phrase goes to its category (created if missing). Results above ``--threshold`` become
objects, or with ``--review`` wait for review in the project. Objects the project already has
are never changed, and an instance overlapping one (mask IoU >= ``--duplicate-iou``) is skipped.
The project is saved atomically as the run goes; Ctrl+C stops it and keeps what is done, and
running the same command again does only what is missing (``--redo`` runs everything again).
``--ray [ADDRESS]`` runs the model on a Ray cluster (docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from samdesk.document.files import PROJECT_SUFFIX
from samdesk.subcommands._device import add_device_option
from samdesk.subcommands._progress import EtaBar, format_duration

# segment everything's settings offered on the command line (model_runtime.everything settings)
EVERYTHING_OPTIONS = {
    "points_per_side": int,
    "points_per_batch": int,
    "pred_iou_thresh": float,
    "stability_score_thresh": float,
    "box_nms_thresh": float,
    "crop_n_layers": int,
    "min_mask_region_area": int,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "label",
        help="label every image of folders or projects with phrases (SAM 3) or segment everything",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="images, folders or .samdesk.json projects")
    parser.add_argument("--project", required=True, type=Path, help="project file to create or add to")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", action="append", metavar="PHRASE", help="a noun phrase (repeat for more)")
    what.add_argument("--everything", action="store_true", help="segment everything (SAM 1/MobileSAM/SAM 2)")
    parser.add_argument("--model", required=True, metavar="NAME_OR_PATH", help="checkpoint file or name")
    parser.add_argument(
        "--threshold", type=float, default=None,
        help="keep instances scoring above this (default: 0.5 for phrases; segment everything keeps "
        "what its sweep keeps)",
    )
    parser.add_argument(
        "--review", action="store_true",
        help="keep the results waiting for review in the project (the GUI shows them per image) "
        "instead of adding them as objects",
    )
    parser.add_argument(
        "--duplicate-iou", type=float, default=0.8, metavar="IOU",
        help="skip an instance whose mask overlaps an object already on the image this much (default 0.8)",
    )
    parser.add_argument(
        "--redo", action="store_true", help="run again on images already labelled for these tasks"
    )
    parser.add_argument("--category", default=None, help="category of --everything's objects (default: none)")
    for name, kind in EVERYTHING_OPTIONS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=argparse.SUPPRESS)
    add_device_option(parser)
    parser.add_argument("--cache-dir", default=None, help="embedding cache folder (default: the user cache)")
    parser.add_argument("--save-every", type=float, default=10.0, metavar="SECONDS", help=argparse.SUPPRESS)
    add_ray_arguments(parser)
    parser.set_defaults(func=run)


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]`` and the worker sizing options (shared with ``samdesk precompute``)."""
    group = parser.add_argument_group("running on a Ray cluster (pip install 'samdesk[cluster]')")
    group.add_argument(
        "--ray", nargs="?", const="", default=None, metavar="ADDRESS",
        help="run the model on a Ray cluster: its address, or none for Ray's default "
        "(RAY_ADDRESS, a cluster started on this machine, else a local one)",
    )
    group.add_argument(
        "--workers", type=int, default=None, help="model workers (default: as many as the cluster allows)"
    )
    group.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per worker (default 1)")
    group.add_argument(
        "--gpus-per-worker", type=float, default=None,
        help="GPUs per worker (default: 1 if the cluster has GPUs)",
    )


def cluster_config(args: argparse.Namespace, loader=None):  # -> ClusterConfig
    from samdesk.labelling.cluster import ClusterConfig

    return ClusterConfig(args.ray or None, args.workers, args.cpus_per_worker, args.gpus_per_worker,
                         args.device, loader)


def run(args: argparse.Namespace, out: TextIO | None = None, loader=None) -> int:
    """The command. ``loader(source, device)`` replaces ``model_runtime.load_model`` (tests; with
    ``--ray`` it must be importable on the workers)."""
    from samdesk.labelling.request import LabelRequest, clean_phrases

    out = out or sys.stderr

    settings = {k: getattr(args, k) for k in EVERYTHING_OPTIONS if getattr(args, k) is not None}
    try:
        if settings and not args.everything:
            raise ValueError("segment-everything settings need --everything")
        if args.category and not args.everything:
            raise ValueError("--category is for --everything; phrases go to their own categories")
        if not 0.0 < args.duplicate_iou <= 1.0:
            raise ValueError(f"--duplicate-iou must be in (0, 1], got {args.duplicate_iou}")
        if not args.project.name.endswith(PROJECT_SUFFIX):
            raise ValueError(f"--project must be a {PROJECT_SUFFIX} file, got {args.project}")
        request = LabelRequest(clean_phrases(args.text or []), args.everything, args.threshold, settings)
    except ValueError as exc:
        print(f"samdesk label: {exc}", file=out)
        return 2
    return _label(args, request, out, loader)


def _label(args: argparse.Namespace, request, out: TextIO, loader) -> int:
    from samdesk.document import Document, Project
    from samdesk.document.instances import read_lock
    from samdesk.document.persistence import ProjectFileError, load_project
    from samdesk.labelling.apply import ApplyOptions, task_categories
    from samdesk.labelling.cluster import RayMissing
    from samdesk.labelling.found import ModelUnusable
    from samdesk.labelling.run import LabellingRun, RunSummary, add_media, work_list
    from samdesk.labelling.store import LabellingRecordError
    from samdesk.subcommands.precompute import collect_images

    paths: list[Path] = []
    try:
        for target in args.paths:
            images, skipped = collect_images(Path(target))
            paths += images
            for path, why in skipped:
                print(f"skipping {path}: {why}", file=out)
        loaded = load_project(args.project) if args.project.exists() else None
        document = Document(loaded.project if loaded else Project(), args.project)
        media, problems = add_media(document, paths)
        items, skipped_done = work_list(document, media, request, args.redo)
    except (ValueError, ProjectFileError, LabellingRecordError) as exc:
        print(f"samdesk label: {exc}", file=out)
        return 1
    for path, why in problems:
        print(f"skipping {path}: {why}", file=out)
    if not media:
        print("samdesk label: no images to label", file=out)
        return 1
    holder = read_lock(args.project)
    if holder is not None:
        print(f"samdesk label: warning: {args.project} is open in samdesk (process {holder.instance.pid} on "
              f"{holder.instance.host}); that window will ask before saving over this run", file=out)
    categories = task_categories(document, request, args.category)
    summary = RunSummary(skipped=skipped_done)
    bar = EtaBar(len(items), out)
    run = LabellingRun(
        document, args.project, loaded.stamp if loaded else None, items, categories, request.threshold,
        ApplyOptions(args.review, args.duplicate_iou), summary, args.save_every,
        on_image=lambda item, labels, outcome: bar(summary.finished, Path(item.path).name),
    )
    start = time.monotonic()
    try:
        code = _execute(args, request, items, skipped_done, run, out, loader, bar)
    except (ModelUnusable, RayMissing) as exc:
        bar.finish()
        print(f"samdesk label: {exc}", file=out)
        if not summary.finished:
            return 2  # nothing was labelled: the project file is left as it was
        code = 2
    except BaseException:
        _save(run, args.project, out)  # keep what is done, whatever went wrong
        raise
    finally:
        bar.finish()
    if not _save(run, args.project, out):
        return 1
    print_summary(summary, time.monotonic() - start, args.project, out)
    if summary.repeated:
        print(f"warning: {summary.repeated} results arrived twice for an image; each was applied once",
              file=out)
    return code or (1 if summary.failed else 0)


def _execute(args: argparse.Namespace, request, items, skipped_done: int, run, out: TextIO, loader,
             bar: EtaBar) -> int:
    """Run the model part here or on Ray; 130 when interrupted (what is done is kept)."""
    from model_runtime.runtime import RuntimeConfig

    if not items:
        print(f"nothing to do: all {skipped_done} images are labelled for these tasks (--redo runs "
              "them again)", file=out)
        return 0

    def header(info, workers: int | None = None) -> None:
        where = f"{workers} Ray workers" if workers is not None else info.device
        tasks = "segment everything" if request.everything else ", ".join(request.phrases)
        print(f"labelling {len(items)} images ({skipped_done} already done) with {info.display_name} "
              f"on {where}: {tasks}", file=out)
        bar.restart()

    try:
        if args.ray is not None:
            from samdesk.labelling.cluster import label_on_ray

            label_on_ray(items, request, args.model, cluster_config(args, loader), run.receive, header)
        else:
            from samdesk.labelling.local import run_local

            config = RuntimeConfig(background_idle=False, disk_cache_dir=args.cache_dir)
            run_local(items, request, args.model, args.device, config, run.receive, header, loader)
    except KeyboardInterrupt:
        print("\ninterrupted: the images finished so far are kept; run the same command to go on", file=out)
        return 130
    return 0


def _save(run, project: Path, out: TextIO) -> bool:
    from samdesk.document.persistence import ProjectChangedOnDisk, ProjectFileError

    try:
        run.finish()
    except ProjectChangedOnDisk as exc:
        print(f"samdesk label: not saved, to keep the other save: {exc}", file=out)
        return False
    except (ProjectFileError, OSError) as exc:
        print(f"samdesk label: could not save {project}: {exc}", file=out)
        return False
    return True


def print_summary(summary, seconds: float, project: Path, out: TextIO) -> None:
    median = summary.median_seconds()
    timing = ""
    if summary.finished and median is not None:
        per_image = seconds / summary.finished
        timing = f" ({per_image:.2f} s per image; model time per image: median {median:.2f} s)"
    print(f"done in {format_duration(seconds)}{timing}: {summary.labelled} images labelled, "
          f"{len(summary.failed)} failed, {summary.skipped} already labelled; saved {project}", file=out)
    for name, counts in summary.per_category.items():
        parts = [f"{counts.added} added"] if counts.added or not counts.pending else []
        if counts.pending:
            parts.append(f"{counts.pending} waiting for review")
        if counts.duplicates:
            parts.append(f"{counts.duplicates} duplicates of existing objects skipped")
        print(f"  {name}: {counts.found} found, {', '.join(parts)}", file=out)
    for path, why in summary.failed:
        print(f"  failed: {path}: {why}", file=out)
