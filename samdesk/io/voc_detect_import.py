"""Import of Pascal VOC detection (``voc-detect``): ``Annotations/<name>.xml``, one per image.

``path`` is the dataset folder (with ``Annotations/``), the ``Annotations`` folder itself, or one
XML file. Each ``<object>`` becomes a box annotation (``samdesk/document/shapes.py``) of the
category ``<name>``, its ``<bndbox>`` read as the VOC devkit writes it (integer, 1-based,
inclusive: x0 = xmin - 1, x1 = xmax, as supervision and datumaro read it) and clipped to the
image. ``<truncated>``, ``<occluded>`` and ``<difficult>`` set to 1 become the object's
attributes of those names. The image is ``JPEGImages/<filename>`` beside ``Annotations``, else
``images_dir/<filename>``, else an image of the XML's name there. Parts, poses and actions are
not kept; a document type declaration is refused (VOC writes none).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from model_runtime.media import IMAGE_SUFFIXES
from samdesk.document.attributes import OCCLUDED, TRUNCATED
from samdesk.document.boxes import box_only_frame
from samdesk.document.model import AttributeValue, MediaKind, Project
from samdesk.io.common import CancelFn, DatasetError, ProgressFn, image_size, report
from samdesk.io.cvat_xml import refuse_doctype
from samdesk.io.import_plan import ImportPlan, ImportResult
from samdesk.io.shapes import clip_box

MAX_FILE_BYTES = 64 << 20  # one image's annotation file; far larger is not VOC
FLAGS = (TRUNCATED, OCCLUDED, "difficult")


def import_voc_detection(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read VOC detection XML files (see the module docstring); ``project`` is only read."""
    path, images_dir = Path(path), Path(images_dir)
    files = _files(path)
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    for done, file in enumerate(files):
        report(progress, cancel, done, len(files))
        _import_file(plan, file, images_dir)
    report(progress, cancel, len(files), len(files))
    return plan.result(f"import {path.name}")


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    folder = path / "Annotations" if (path / "Annotations").is_dir() else path
    if not folder.is_dir():
        raise DatasetError(f"{path}: no such file or folder")
    files = sorted(p for p in folder.glob("*.xml") if p.is_file())
    if not files:
        raise DatasetError(f"{path}: no VOC annotation files (Annotations/*.xml)")
    return files


def _import_file(plan: ImportPlan, file: Path, images_dir: Path) -> None:
    if file.stat().st_size > MAX_FILE_BYTES:
        plan.warnings.add("annotation file too large for one image; skipped", file.name)
        return
    refuse_doctype(file)
    try:
        root = ET.parse(file).getroot()
    except ET.ParseError as exc:
        raise DatasetError(f"{file}: not valid XML ({exc})") from None
    if root.tag != "annotation":
        raise DatasetError(f"{file}: not a VOC annotation (its root is <{root.tag[:40]}>)")
    image = _image(file, root.findtext("filename") or "", images_dir)
    if image is None:
        plan.warnings.add("image missing; skipped with its boxes", file.name)
        return
    width, height = image_size(image)
    declared = (_int(root.findtext("size/width")), _int(root.findtext("size/height")))
    if None not in declared and declared != (width, height):
        plan.warnings.add(
            "annotation declares another image size than its image has; skipped",
            f"{file.name}: {declared[0]}×{declared[1]}, {image.name} is {width}×{height}",
        )
        return
    media = plan.media(image, MediaKind.IMAGE, width, height)
    for index, element in enumerate(root.iter("object")):
        where = f"{file.name} object {index}"
        name = (element.findtext("name") or "").strip()
        corners = [_number(element.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
        if not name or None in corners:
            plan.warnings.add("object without a name or a complete box skipped", where)
            continue
        xmin, ymin, xmax, ymax = corners  # type: ignore[misc]
        box = clip_box(xmin - 1, ymin - 1, xmax, ymax, height, width)
        if box is None:
            plan.warnings.add("box without area inside its image skipped", where)
            continue
        flags = [f for f in FLAGS if element.findtext(f, "").strip() == "1"]
        attributes: dict[str, AttributeValue] = dict.fromkeys(flags, True)
        frame = box_only_frame(box, height, width)
        plan.add_object(media, plan.category(name), {0: frame}, attributes=attributes)


def _image(file: Path, filename: str, images_dir: Path) -> Path | None:
    candidates = []
    if filename and "\x00" not in filename and "/" not in filename and "\\" not in filename:
        candidates += [file.parent.parent / "JPEGImages" / filename, images_dir / filename]
    candidates += [images_dir / f"{file.stem}{suffix}" for suffix in IMAGE_SUFFIXES]
    candidates += [file.parent.parent / "JPEGImages" / f"{file.stem}{suffix}" for suffix in IMAGE_SUFFIXES]
    return next((c for c in candidates if c.is_file()), None)


def _int(text: str | None) -> int | None:
    value = _number(text)
    return int(value) if value is not None and value.is_integer() else None


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None and len(text) < 40 else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None
