"""Import of Pascal VOC segmentation and CVAT "Segmentation mask 1.1" (the same layout)::

    labelmap.txt                      name:r,g,b:parts:actions per line (optional: VOC's 21 classes)
    ImageSets/Segmentation/<set>.txt  the image names (optional: the PNGs' names)
    SegmentationClass/<name>.png      class of each pixel: palette indices, or RGB in labelmap colours
    SegmentationObject/<name>.png     instance of each pixel: palette indices, or RGB in VOC's colours
    JPEGImages/<name>.jpg             the images (else ``images_dir/<name>.<ext>``)

Index (or colour) 0 is background and 255 (VOC's ``(224, 224, 192)``) the "void" border; neither
is an object. Every instance becomes one object whose category is the class most of its pixels
have, as datumaro reads it. Without ``SegmentationObject``, each class present in an image
becomes one object (a semantic mask knows no instances). Labels without a colour get VOC's
colour of their index, as VOC and datumaro do.
"""

from __future__ import annotations

import warnings as pywarnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from model_runtime.media import IMAGE_SUFFIXES
from samdesk.document.masks import Rle
from samdesk.document.model import FrameAnnotation, MediaKind, Project, Provenance
from samdesk.io.common import CancelFn, DatasetError, ProgressFn, image_size, read_text, report
from samdesk.io.import_plan import ImportPlan, ImportResult
from samdesk.io.runs import label_rles
from samdesk.io.video_masks import davis_palette

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip
VOID = 255
MAX_LABELS = 256


def import_voc(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read a VOC / CVAT segmentation mask folder (see the module docstring)."""
    root, images_dir = Path(path), Path(images_dir)
    if root.is_file() and root.name == "labelmap.txt":
        root = root.parent
    if not (root / "SegmentationClass").is_dir() and not (root / "SegmentationObject").is_dir():
        raise DatasetError(
            f"{root}: no SegmentationClass or SegmentationObject folder (not a VOC segmentation)"
        )
    labels, colors = _label_map(root / "labelmap.txt")
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    categories = [plan.category(name) if i else None for i, name in enumerate(labels)]
    names = _names(root)
    for done, name in enumerate(names):
        report(progress, cancel, done, len(names))
        image = _image(root, images_dir, name)
        if image is None:
            plan.warnings.add("image missing; skipped with its masks", name)
            continue
        width, height = image_size(image)
        class_png, object_png = (
            root / "SegmentationClass" / f"{name}.png",
            root / "SegmentationObject" / f"{name}.png",
        )
        classes = _read(class_png, height, width, colors, plan) if class_png.is_file() else None
        instances = _read(object_png, height, width, davis_palette(), plan) if object_png.is_file() else None
        media = plan.media(image, MediaKind.IMAGE, width, height)
        if instances is None and classes is None:
            plan.warnings.add("image without masks", name)
            continue
        if instances is None:
            plan.warnings.add("no instance masks (SegmentationObject): one object per class", name)
        for cls, rle in _objects(instances, classes, len(labels), plan, name):
            category = categories[cls] if cls is not None else None
            plan.add_object(media, category, {0: FrameAnnotation(rle, Provenance.IMPORTED)})
    report(progress, cancel, len(names), len(names))
    return plan.result(f"import {root.name}")


def _objects(
    instances: np.ndarray | None, classes: np.ndarray | None, label_count: int, plan: ImportPlan, name: str
) -> Iterator[tuple[int | None, Rle]]:
    """(label index or None, mask) per object: per instance value, or per class without instances."""
    if instances is None:
        assert classes is not None
        for value, rle in label_rles(np.where(classes == VOID, 0, classes)).items():
            if value >= label_count:
                plan.warnings.add("class value not in the label map; skipped", f"{name}: {value}")
                continue
            yield value, rle
        return
    inside = np.where(instances == VOID, 0, instances)
    majority: dict[int, int] = {}
    if classes is not None:
        keep = (inside > 0) & (classes != VOID) & (classes > 0)
        pairs, counts = np.unique(inside[keep].astype(np.int64) * 256 + classes[keep], return_counts=True)
        best: dict[int, int] = {}
        for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
            instance, cls = divmod(pair, 256)
            if count > best.get(instance, -1):
                best[instance], majority[instance] = count, cls
    for value, rle in label_rles(inside).items():
        cls = majority.get(value)
        if cls is not None and cls >= label_count:
            plan.warnings.add(
                "class value not in the label map; object kept without category", f"{name}: {cls}"
            )
            cls = None
        elif cls is None and classes is not None:
            plan.warnings.add("instance without a class; kept without category", f"{name}: {value}")
        yield cls, rle


def _label_map(path: Path) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Label names by index (0 = background) and their colours (VOC's where none is given)."""
    if not path.is_file():
        return list(VOC_CLASSES), davis_palette()[: len(VOC_CLASSES)]
    names: list[str] = []
    colors: list[tuple[int, int, int]] = []
    voc = davis_palette()
    for line_no, line in enumerate(read_text(path).splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        name = fields[0]
        if name in names:
            raise DatasetError(f"{path}: line {line_no}: label '{name[:40]}' appears twice")
        color = voc[len(names) % 256]
        if len(fields) > 1 and fields[1].strip():
            parts = fields[1].split(",")
            if len(parts) != 3 or not all(p.strip().isdigit() and int(p) < 256 for p in parts):
                raise DatasetError(
                    f"{path}: line {line_no}: colour '{fields[1][:40]}' is not r,g,b in 0..255"
                )
            color = (int(parts[0]), int(parts[1]), int(parts[2]))
        names.append(name)
        colors.append(color)
        if len(names) > MAX_LABELS:
            raise DatasetError(f"{path}: more than {MAX_LABELS} labels")
    if not names:
        raise DatasetError(f"{path}: no labels")
    return names, colors


def _names(root: Path) -> list[str]:
    lists = sorted((root / "ImageSets" / "Segmentation").glob("*.txt"))
    names: dict[str, None] = {}
    for listed in lists:
        for line in read_text(listed).splitlines():
            if line.strip():
                names.setdefault(line.strip().split()[0])
    if not names:
        for folder in ("SegmentationObject", "SegmentationClass"):
            for png in sorted((root / folder).rglob("*.png")):
                names.setdefault(png.relative_to(root / folder).with_suffix("").as_posix())
    return [n for n in names if "\x00" not in n and ".." not in Path(n).parts]


def _image(root: Path, images_dir: Path, name: str) -> Path | None:
    for folder in (root / "JPEGImages", images_dir):
        for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _read(
    path: Path, height: int, width: int, colors: list[tuple[int, int, int]], plan: ImportPlan
) -> np.ndarray:
    """A class or instance PNG -> int32 (H, W) indices: palette and grey PNGs as they are, RGB ones
    through ``colors`` (index i has colour ``colors[i]``; VOC's void colour is 255). The size is
    checked from the header before anything is decoded."""
    try:
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size check follows
            image = Image.open(path)
        with image:
            if image.size != (width, height):
                raise DatasetError(
                    f"{path}: mask is {image.size[0]}×{image.size[1]}, its image is {width}×{height}"
                )
            if image.mode in ("P", "L"):
                return np.asarray(image).astype(np.int32)
            if image.mode not in ("RGB", "RGBA"):
                raise DatasetError(f"{path}: expected a palette, grey or RGB PNG, got mode {image.mode}")
            rgb = np.asarray(image.convert("RGB")).astype(np.int32)
    except DatasetError:
        raise
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{path}: refused, the image is too large to decode safely ({exc})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable PNG ({exc})") from None
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    lookup = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in reversed(list(enumerate(colors)))}
    lookup.setdefault((224 << 16) | (224 << 8) | 192, VOID)
    found, inverse = np.unique(code, return_inverse=True)
    indices = np.array([lookup.get(int(c), -1) for c in found], np.int32)
    if (indices < 0).any():
        plan.warnings.add("mask colour not in the label map; read as background", f"{path.name}")
        indices[indices < 0] = 0
    return indices[inverse].reshape(height, width)
