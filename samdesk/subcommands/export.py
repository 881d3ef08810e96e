"""``samdesk export PROJECT --format F --out PATH``: write a project as a training dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from samdesk.document.model import Project
from samdesk.subcommands._progress import ProgressBar


def register(subparsers: argparse._SubParsersAction) -> None:
    from samdesk.io.formats import export_formats

    formats = export_formats()  # the built-in ones and those of exporter plugins
    parser = subparsers.add_parser(
        "export",
        help="export a project as COCO, mask PNGs, YOLO-seg, DAVIS, YouTube-VOS, YouTube-VIS "
        "or a format an installed plugin adds",
        description="Export a samdesk project as a dataset training pipelines read. Formats: "
        + "; ".join(f"{f.name}: {f.description}" for f in formats.values()),
    )
    parser.add_argument("project", type=Path, metavar="PROJECT", help="a .samdesk.json project file")
    parser.add_argument("--format", required=True, choices=list(formats), dest="format_name")
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output file ("
        + ", ".join(f.name for f in formats.values() if f.single_file)
        + ") or folder (the others)",
    )
    parser.add_argument("--only-done", action="store_true", help="only images and frames marked done")
    parser.add_argument(
        "--include-unannotated",
        action="store_true",
        help="also write images with no objects that are not marked done, as images with no "
        "objects (by default they are left out: nobody said there is nothing on them)",
    )
    parser.add_argument("--categories", nargs="+", metavar="NAME", help="only objects of these categories")
    parser.add_argument(
        "--images-root",
        type=Path,
        help="folder image file names are relative to (default: the media's common folder)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        help="polygon simplification in pixels (coco-polygon, yolo-seg); default: automatic, "
        "keeping polygon-vs-mask IoU >= 0.98",
    )
    parser.add_argument(
        "--yolo-images",
        choices=["symlink", "copy", "none"],
        default="symlink",
        help="how yolo-seg, yolo-detect and voc-detect place the images beside the labels",
    )
    parser.add_argument(
        "--all-frames",
        action="store_true",
        help="davis, ytvos, ytvis: every frame of each video, not only the annotated ones "
        "(a frame nobody annotated would otherwise read as a frame without objects)",
    )
    parser.add_argument(
        "--resolution",
        choices=["480p", "Full-Resolution"],
        default="480p",
        help="davis: frames and masks 480 px high (DAVIS' 480p, masks resized with nearest "
        "neighbour) or at the video's size",
    )
    parser.add_argument(
        "--split",
        choices=["train", "val", "test-dev", "test-challenge"],
        default="train",
        help="davis: the ImageSets/2017/<split>.txt that lists the videos",
    )
    parser.add_argument(
        "--min-part-area",
        type=int,
        metavar="PIXELS",
        help="yolo-seg: parts and holes of an object smaller than this are specks, left out "
        "(islands) or filled (holes), and counted (default: 16; 0 keeps them all)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files that already exist at the output (never the project or its media)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from samdesk.document.persistence import ProjectFileError, load_project
    from samdesk.io.common import MISSING_MEDIA, Cancelled, DatasetError
    from samdesk.io.formats import export_formats, run_export

    try:
        project = load_project(args.project).project
        options: dict[str, object] = {
            "only_done": args.only_done,
            "include_unannotated": args.include_unannotated,
            "images_root": args.images_root,
            "overwrite": args.overwrite,
            "project_file": args.project,
        }
        if args.categories:
            options["category_ids"] = category_ids(project, args.categories)
        fmt = export_formats()[args.format_name]
        fields = fmt.options.__dataclass_fields__
        if args.tolerance is not None and "tolerance" in fields:
            options["tolerance"] = args.tolerance
        if "images" in fields:
            options["images"] = args.yolo_images
        if "all_frames" in fields:
            options["all_frames"] = args.all_frames
        if "resolution" in fields:
            options["resolution"] = args.resolution
        if "split" in fields:
            options["split"] = args.split
        if args.min_part_area is not None and "min_part_area" in fields:
            options["min_part_area"] = args.min_part_area
        progress = None if args.quiet else ProgressBar(f"export {args.format_name}")
        result = run_export(args.format_name, project, args.out, progress=progress, **options)
    except (ProjectFileError, DatasetError, Cancelled) as exc:
        print(f"samdesk export: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"samdesk export: error: {exc.filename or args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for line in result.warnings.lines(exclude=frozenset({MISSING_MEDIA})):
        print(f"samdesk export: warning: {line}", file=sys.stderr)
    for line in result.approximations:
        print(f"samdesk export: inexact: {line}", file=sys.stderr)
    for path in result.missing_media:
        print(f"samdesk export: error: {path}: {MISSING_MEDIA}", file=sys.stderr)
    print(
        f"exported {result.media} media, {result.frames} frames, {result.annotations} objects to {args.out}"
        + "".join(f"; {phrase}" for phrase in result.summary)
        + (f"; {len(result.approximations)} objects inexact (listed above)" if result.approximations else "")
        + (f"; incomplete: {len(result.missing_media)} media files missing" if result.missing_media else "")
    )
    # Written, but not all that was asked for: a script must notice, and the lines above say why.
    return 1 if result.missing_media else 0


def category_ids(project: Project, wanted: list[str]) -> set[int]:
    """Category names (or numeric ids) from the command line -> the project's category ids."""
    from samdesk.io.common import DatasetError

    ids = set()
    for value in wanted:
        category = project.category_by_name(value)
        if category is None and value.isdigit() and any(c.id == int(value) for c in project.categories):
            ids.add(int(value))
        elif category is None:
            known = ", ".join(c.name for c in project.categories) or "none"
            raise DatasetError(f"no category '{value}' in the project (it has: {known})")
        else:
            ids.add(category.id)
    return ids
