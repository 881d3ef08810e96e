"""Import of SA-1B, Segment Anything's dataset: one JSON file per image (a file or a folder of them).

    {"image": {"image_id": 1, "file_name": "sa_1.jpg", "width": 1500, "height": 2250},
     "annotations": [{"id": 1, "segmentation": {"size": [2250, 1500], "counts": "..."},
                      "bbox": [...], "area": 1234, "predicted_iou": 0.93, "stability_score": 0.97,
                      "point_coords": [[x, y]], "crop_box": [...]}, ...]}

The image is ``file_name`` beside the JSON file (as SA-1B ships), else under ``images_dir``.
Each annotation is one object without category (SA-1B has none); ``predicted_iou`` is kept as
its score and ``point_coords`` (the click that made the mask) as its prompt. ``bbox``, ``area``,
``stability_score`` and ``crop_box`` are not kept.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from model_runtime.prompts import Prompts
from samdesk.document import masks
from samdesk.document.model import FrameAnnotation, MediaKind, Project, Provenance
from samdesk.io.coco import finite_number, segmentation_mask
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ProgressFn,
    check_size,
    dataset_files,
    image_size,
    read_json,
    report,
)
from samdesk.io.import_plan import ImportPlan, ImportResult


def import_sa1b(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read SA-1B JSON files (see the module docstring); ``project`` is only read."""
    path, images_dir = Path(path), Path(images_dir)
    files = dataset_files(path, ".json", "SA-1B .json")
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    for done, file in enumerate(files):
        report(progress, cancel, done, len(files))
        data = read_json(file)
        if not (
            isinstance(data, dict)
            and isinstance(data.get("image"), dict)
            and isinstance(data.get("annotations"), list)
        ):
            if len(files) == 1:
                raise DatasetError(f"{file}: not an SA-1B file (no 'image' and 'annotations')")
            plan.warnings.add("JSON file that is not an SA-1B file skipped", file.name)
            continue
        _import_file(plan, file, data, images_dir)
    report(progress, cancel, len(files), len(files))
    return plan.result(f"import {path.name}")


def _import_file(plan: ImportPlan, file: Path, data: dict, images_dir: Path) -> None:
    info = data["image"]
    name, width, height = info.get("file_name"), info.get("width"), info.get("height")
    if not (isinstance(name, str) and name and "\x00" not in name):
        raise DatasetError(f"{file}: 'image' needs a file_name")
    relative = Path(*PurePosixPath(name).parts)
    image = next((c for c in (file.parent / relative, images_dir / relative) if c.is_file()), None)
    if image is None:
        plan.warnings.add("image missing; skipped with its masks", name[:80])
        return
    actual = image_size(image)
    if isinstance(width, int) and isinstance(height, int) and not isinstance(width, bool):
        check_size(width, height, f"{file}")
        if (width, height) != actual:
            raise DatasetError(
                f"{file}: {name} is declared {width}×{height} but the file is {actual[0]}×{actual[1]}"
            )
    width, height = actual
    media = plan.media(image, MediaKind.IMAGE, width, height)
    for index, ann in enumerate(data["annotations"]):
        where = f"{file.name} annotation {index}"
        if not isinstance(ann, dict):
            plan.warnings.add("malformed annotation skipped", where)
            continue
        mask = segmentation_mask(ann.get("segmentation"), height, width, plan.warnings, where)
        if mask is None:
            continue
        frame = FrameAnnotation(
            masks.encode(mask),
            Provenance.IMPORTED,
            score=finite_number(ann.get("predicted_iou")),
            prompts=_clicks(ann.get("point_coords"), width, height),
        )
        plan.add_object(media, None, {0: frame})


def _clicks(points: object, width: int, height: int) -> Prompts:
    """SA-1B's ``point_coords`` as foreground clicks; unusable points are left out."""
    kept = []
    for point in points if isinstance(points, list) else []:
        if isinstance(point, list) and len(point) == 2:
            x, y = (finite_number(v) for v in point)
            if x is not None and y is not None and 0 <= x <= width and 0 <= y <= height:
                kept.append((x, y))
    return Prompts(points=kept, labels=[1] * len(kept)) if kept else Prompts()
