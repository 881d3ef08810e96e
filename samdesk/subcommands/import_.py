"""``samdesk import FILE_OR_DIR --format F --images DIR --project OUT``: add a dataset to a project.

The project file is created, or merged into when it exists. The whole import is validated before
anything is written, and the project file is replaced atomically, so a failed import leaves it
as it was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from samdesk.subcommands._progress import ProgressBar


def register(subparsers: argparse._SubParsersAction) -> None:
    from samdesk.io.formats import IMPORT_FORMATS

    parser = subparsers.add_parser(
        "import",
        help="import a dataset (COCO, YOLO, labelme, CVAT, VOC, DAVIS, YouTube-VOS/VIS, ...) into a project",
        description="Import a dataset's annotations into a samdesk project (created if missing). "
        "Category names merge with the project's; ids in the file are never trusted.",
    )
    parser.add_argument("source", type=Path, metavar="FILE_OR_DIR", help="dataset file or folder")
    parser.add_argument("--format", required=True, choices=list(IMPORT_FORMATS), dest="format_name")
    parser.add_argument(
        "--images",
        type=Path,
        help="folder the dataset's media paths are relative to (default: the dataset's folder; "
        "images and frames the dataset holds itself are found there first)",
    )
    parser.add_argument("--project", required=True, type=Path, help="project file to create or merge into")
    parser.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="also add annotations the project already has (same image, same mask); "
        "by default they are skipped with a warning, so importing a file twice adds nothing",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from samdesk.document import Document, Project
    from samdesk.document.instances import read_lock
    from samdesk.document.persistence import ProjectFileError, load_project, save_project
    from samdesk.io.common import Cancelled, DatasetError
    from samdesk.io.formats import IMPORT_FORMATS

    try:
        if not args.source.exists():
            raise DatasetError(f"{args.source}: no such file or folder")
        if args.images is None:
            args.images = args.source if args.source.is_dir() else args.source.parent
        if not args.images.is_dir():
            raise DatasetError(f"{args.images}: no such folder (--images)")
        loaded = load_project(args.project) if args.project.exists() else None
        document = Document(loaded.project if loaded else Project(), args.project)
        holder = read_lock(args.project)
        if holder is not None:
            print(
                f"samdesk import: warning: {args.project} is open in samdesk (process {holder.instance.pid} "
                f"on {holder.instance.host}); that window will ask before saving over this import",
                file=sys.stderr,
            )
        progress = None if args.quiet else ProgressBar(f"import {args.format_name}")
        result = IMPORT_FORMATS[args.format_name](
            document.project, args.source, args.images, progress, None, keep_duplicates=args.allow_duplicates
        )
        if result.nothing_imported():
            reasons = "; ".join(result.warnings.lines()) or "it holds no annotations"
            raise DatasetError(f"{args.source}: nothing imported as {args.format_name} ({reasons})")
        document.execute(result.command)
        # A project saved by someone else meanwhile is not overwritten (ProjectChangedOnDisk).
        save_project(document.project, args.project, expected=loaded.stamp if loaded else None)
    except (ProjectFileError, DatasetError, Cancelled) as exc:
        print(f"samdesk import: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"samdesk import: error: {exc.filename or args.source}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for line in result.warnings.lines():
        print(f"samdesk import: warning: {line}", file=sys.stderr)
    print(
        f"imported {result.objects_added} objects on {result.media_added} new and {result.media_matched} "
        f"existing media, {result.categories_added} new categories, into {args.project}"
    )
    return 0
