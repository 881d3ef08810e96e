"""``samdesk segment-boxes PROJECT --model NAME_OR_PATH``: give box-only objects their masks.

Objects imported from detection datasets (COCO boxes, YOLO detection lines, labelme and CVAT
rectangles) hold a box and no mask (docs/project-format.md, "Box-only objects"). This asks a
click model (SAM 1, MobileSAM, SAM 2) for each box's mask, all boxes of an image in one batch
(``samdesk/session/segment_boxes.py``), and saves the project atomically, as one undo step the
GUI can take back. Ctrl+C stops between images and keeps the ones done; running the command
again segments the boxes still left.
"""

from __future__ import annotations

import argparse
import queue
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from samdesk.subcommands._device import add_device_option

if TYPE_CHECKING:
    from model_runtime.runtime.scheduler import ModelLoader
    from samdesk.session.segment_boxes import BoxMasks, BoxTask

_POLL_S = 0.2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment-boxes",
        help="turn box-only objects (imported detections) into masks with a click model",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("project", type=Path, help="the .samdesk.json project")
    parser.add_argument("--model", required=True, metavar="NAME_OR_PATH", help="checkpoint file or name")
    add_device_option(parser)
    parser.add_argument("--cache-dir", default=None, help="embedding cache folder (default: the user cache)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None, loader: ModelLoader | None = None) -> int:
    """The command; ``loader(source, device)`` replaces ``model_runtime.load_model`` (tests)."""
    from samdesk.document import Document
    from samdesk.document.persistence import (
        ProjectChangedOnDisk,
        ProjectFileError,
        load_project,
        save_project,
    )
    from samdesk.session.segment_boxes import apply_box_masks, box_tasks
    from samdesk.subcommands._progress import ProgressBar

    out = out or sys.stderr
    try:
        loaded = load_project(args.project)
    except (ProjectFileError, OSError) as exc:
        print(f"samdesk segment-boxes: error: {exc}", file=out)
        return 1
    document = Document(loaded.project, args.project)
    missing = {m.id for m in loaded.missing_media}
    tasks = [t for t in box_tasks(document.project) if t.media_id not in missing]
    if missing:
        print(
            f"samdesk segment-boxes: warning: {len(missing)} media files are missing; their boxes wait",
            file=out,
        )
    if not tasks:
        print(f"no box-only objects to segment in {args.project}", file=out)
        return 0
    progress = None if args.quiet else ProgressBar("segment boxes")
    results: list[BoxMasks] = []
    code = _segment(args, tasks, results, progress, out, loader)
    batch = apply_box_masks(document.project, results)
    made = 0 if batch is None else len(batch.commands)
    if batch is not None:
        document.execute(batch)
        try:
            save_project(document.project, args.project, expected=loaded.stamp)
        except ProjectChangedOnDisk as exc:
            print(f"samdesk segment-boxes: not saved, to keep the other save: {exc}", file=out)
            return 1
        except (ProjectFileError, OSError) as exc:
            print(f"samdesk segment-boxes: could not save {args.project}: {exc}", file=out)
            return 1
    failed = [r for r in results if r.error]
    boxes = sum(len(t.boxes) for t in tasks)
    print(
        f"segmented {made} of {boxes} boxes on {len(results) - len(failed)} images; saved {args.project}",
        file=out,
    )
    for result in failed:
        print(f"  failed: {result.task.path} frame {result.task.frame}: {result.error}", file=out)
    return code or (1 if failed else 0)


def _segment(
    args: argparse.Namespace,
    tasks: list[BoxTask],
    results: list[BoxMasks],
    progress,
    out: TextIO,
    loader: ModelLoader | None,
) -> int:
    """Run the job on a runtime of this process, appending each image's answer to ``results``;
    2 when the model cannot be used, 130 when interrupted (what is done is kept)."""
    from model_runtime.runtime import Callbacks, Runtime, RuntimeConfig
    from samdesk.session.segment_boxes import segment_boxes

    runtime = Runtime(RuntimeConfig(background_idle=False, disk_cache_dir=args.cache_dir), loader=loader)
    try:
        try:
            runtime.load_model(args.model, args.device).result()
        except Exception as exc:
            print(f"samdesk segment-boxes: cannot use model {args.model}: {exc}", file=out)
            return 2
        answers: queue.Queue[BoxMasks] = queue.Queue()
        callbacks = Callbacks(on_partial=lambda _rid, result: answers.put(result))
        handle = runtime.run_job(segment_boxes(tasks, _image_provider), callbacks=callbacks)

        def drain() -> None:
            while not answers.empty():
                results.append(answers.get_nowait())
                if progress is not None:
                    progress(len(results), len(tasks))

        try:
            while not handle.wait(_POLL_S):
                drain()
            drain()
            handle.result()
        except KeyboardInterrupt:
            handle.cancel()
            drain()
            print("\ninterrupted: the images done so far are kept; run the same command to go on", file=out)
            return 130
        except Exception as exc:  # the job failed as a whole (e.g. the model cannot take boxes)
            print(f"samdesk segment-boxes: {exc}", file=out)
            return 2
    finally:
        runtime.close()
    return 0


def _image_provider(task: BoxTask):
    """RGB pixels of the task's image or video frame, read as the GUI reads them."""
    from samdesk.document.model import MediaKind

    def read():
        from model_runtime.media import open_video, read_image

        if task.kind == MediaKind.IMAGE:
            return read_image(Path(task.path))
        with open_video(task.path) as reader:
            return reader.read(task.frame).copy()

    return read
