"""Export as CVAT for images 1.1 XML (``annotations.xml``), the file CVAT and datumaro import.

* **Objects** on images, in drawing order (``z_order`` counts up): a mask as a ``<mask>`` (CVAT's
  row-major ``rle`` runs in the mask's box, starting with background: lossless), a box
  annotation (a box-only object, ``samdesk/document/shapes.py``) as a ``<box>``, a polygon
  annotation as a ``<polygon>`` of its vertices. Objects without a category are skipped
  (CVAT shapes need a label), counted.
* **Attributes** (``samdesk/document/attributes.py``): ``occluded`` is the shape's own
  ``occluded="1"``; every other name is an ``<attribute>`` child, declared on each label that uses
  it in ``<meta>`` (``checkbox`` for flags, ``number`` for numbers, ``text`` otherwise), flags
  written on every shape of the label (``true``/``false``), values where the object has one.
* **Image tags** are ``<tag label=...>`` elements of their image; a tag that is not also a
  category is a label of ``<type>tag</type>``.
* Videos are skipped with a warning (use ``ytvis`` or ``davis``).

``samdesk/io/cvat.py`` reads all of it back: masks pixel-exact, boxes, attributes and tags.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from samdesk.document import masks
from samdesk.document.attributes import OCCLUDED
from samdesk.document.model import (
    AnnotationObject,
    AttributeValue,
    Category,
    FrameAnnotation,
    MediaKind,
    Project,
)
from samdesk.document.shapes import kind as shape_kind
from samdesk.io.common import (
    CancelFn,
    ExportOptions,
    ExportResult,
    ProgressFn,
    images_root,
    out_of_memory_names,
    relative_name,
    report,
    still_objects,
)
from samdesk.io.output import start_export

FILE_NAME = "annotations.xml"


def export_cvat(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write the project's images as one CVAT for images 1.1 XML file at ``out``."""
    options = options or ExportOptions()
    skipped = "video skipped (CVAT for images; use ytvis or davis)"
    start = start_export(project, out, options, folder=False, kind=MediaKind.IMAGE, other_kind=skipped)
    result, output, categories, selected = start.result, start.output, start.categories, start.selected
    names = start.names
    root = images_root(selected, options.images_root)
    exported: list[tuple[int, AnnotationObject]] = []  # (image index, object)
    for index, item in enumerate(selected):
        exported += [(index, obj) for obj, _, _ in still_objects(item, names, result)]
    tags = [t for item in selected for t in item.media.tags]
    label_attributes = declared_attributes([obj for _, obj in exported], names)

    top, meta = task_element("exported by samdesk", len(selected), "annotation")
    labels_element(meta, categories, label_attributes, tags)

    by_image: dict[int, list[AnnotationObject]] = {}
    for index, obj in exported:
        by_image.setdefault(index, []).append(obj)
    for index, item in enumerate(selected):
        report(progress, cancel, index, len(selected))
        media = item.media
        image = ET.SubElement(
            top,
            "image",
            id=str(index),
            name=relative_name(media, root),
            width=str(media.width),
            height=str(media.height),
        )
        for tag in media.tags:
            ET.SubElement(image, "tag", label=tag, source="manual")
        for z_order, obj in enumerate(by_image.get(index, [])):
            label = names[obj.category_id]  # type: ignore[index]
            with out_of_memory_names(media):
                shape = shape_element(image, obj.frames[0], shape_attrib(obj, label, z_order))
            if shape is None:
                result.warnings.add("empty mask skipped", f"{media.name} #{obj.id}")
                continue
            write_attributes(shape, obj.attributes, label_attributes.get(label, {}))
            result.annotations += 1
    report(progress, cancel, len(selected), len(selected))
    with output:
        output.write_bytes(output.path(), xml_bytes(top))
    result.files.append(output.path())
    result.media = result.frames = len(selected)
    return result


def task_element(name: str, size: int, mode: str) -> tuple[ET.Element, ET.Element]:
    """``<annotations>`` with its version and ``<meta><task>`` (returned to be filled)."""
    top = ET.Element("annotations")
    ET.SubElement(top, "version").text = "1.1"
    meta = ET.SubElement(ET.SubElement(top, "meta"), "task")
    ET.SubElement(meta, "name").text = name
    ET.SubElement(meta, "size").text = str(size)
    ET.SubElement(meta, "mode").text = mode
    return top, meta


def labels_element(
    meta: ET.Element, categories: list[Category], attributes: dict[str, dict[str, str]], tags: list[str]
) -> None:
    """``<labels>``: one per category with its attributes, one of type tag per other tag."""
    labels = ET.SubElement(meta, "labels")
    names = [c.name for c in categories]
    for category in categories:
        color = "#{:02x}{:02x}{:02x}".format(*category.color)
        _label(labels, category.name, color, "any", attributes.get(category.name, {}))
    for tag in dict.fromkeys(tags):
        if tag not in names:
            _label(labels, tag, "#808080", "tag", {})


def xml_bytes(top: ET.Element) -> bytes:
    ET.indent(top)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8") + b"\n"


def declared_attributes(objects: list[AnnotationObject], names: dict[int, str]) -> dict[str, dict[str, str]]:
    """label -> {attribute name -> CVAT input type} over the objects of that label."""
    out: dict[str, dict[str, str]] = {}
    for obj in objects:
        declared = out.setdefault(names[obj.category_id], {})  # type: ignore[index]
        for name, value in obj.attributes.items():
            if name == OCCLUDED:
                continue
            kind = _input_type(value)
            if declared.get(name, kind) != kind:
                kind = "text"  # one label, several kinds of value: text holds them all
            declared[name] = kind
    return out


def _input_type(value: AttributeValue) -> str:
    if isinstance(value, bool):
        return "checkbox"
    if isinstance(value, int | float):
        return "number"
    return "text"


def _label(parent: ET.Element, name: str, color: str, kind: str, attributes: dict[str, str]) -> None:
    label = ET.SubElement(parent, "label")
    ET.SubElement(label, "name").text = name
    ET.SubElement(label, "color").text = color
    ET.SubElement(label, "type").text = kind
    element = ET.SubElement(label, "attributes")
    for attribute_name, input_type in attributes.items():
        attribute = ET.SubElement(element, "attribute")
        ET.SubElement(attribute, "name").text = attribute_name
        ET.SubElement(attribute, "mutable").text = "False"
        ET.SubElement(attribute, "input_type").text = input_type
        defaults = {"checkbox": ("false", "false\ntrue"), "number": ("0", "")}
        default, values = defaults.get(input_type, ("", ""))
        ET.SubElement(attribute, "default_value").text = default
        ET.SubElement(attribute, "values").text = values


def shape_attrib(obj: AnnotationObject, label: str, z_order: int) -> dict[str, str]:
    """What every shape of ``obj`` carries: label, source, occluded, z_order."""
    occluded = "1" if obj.attributes.get(OCCLUDED) is True else "0"
    return {"label": label, "source": "manual", "occluded": occluded, "z_order": str(z_order)}


def shape_element(
    parent: ET.Element, frame: FrameAnnotation, attrib: dict[str, str], as_kind: str | None = None
) -> ET.Element | None:
    """``frame`` as a ``<box>``, ``<polygon>`` or ``<mask>`` under ``parent`` (its own kind, or
    ``as_kind="mask"``: a box filled); None for an empty mask."""
    kind = as_kind or shape_kind(frame)
    if kind == "box":
        x0, y0, x1, y1 = frame.prompts.box  # type: ignore[misc]
        return ET.SubElement(parent, "box", **attrib, xtl=_num(x0), ytl=_num(y0), xbr=_num(x1), ybr=_num(y1))
    if kind == "polygon":
        points = ";".join(f"{_num(x)},{_num(y)}" for x, y in frame.polygon or ())
        return ET.SubElement(parent, "polygon", **attrib, points=points)
    if shape_kind(frame) == "box":  # a box among masks: its rectangle as a mask
        x0, y0, x1, y1 = (int(round(v)) for v in frame.prompts.box)  # type: ignore[union-attr]
        crop, left, top = np.ones((max(y1 - y0, 1), max(x1 - x0, 1)), bool), x0, y0
    else:
        cropped = masks.decode_box(frame.rle)
        if cropped is None:
            return None
        crop, (left, top) = cropped
    height, width = crop.shape
    return ET.SubElement(
        parent,
        "mask",
        **attrib,
        rle=", ".join(str(v) for v in _row_major_runs(crop)),
        left=str(left),
        top=str(top),
        width=str(width),
        height=str(height),
    )


def _row_major_runs(crop: np.ndarray) -> list[int]:
    """CVAT's mask runs: lengths of alternating background/foreground runs over the crop's
    pixels row by row, starting with background (a first run of 0 when it starts with mask)."""
    flat = crop.ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] else runs


def write_attributes(shape: ET.Element, values: dict[str, AttributeValue], declared: dict[str, str]) -> None:
    for name, input_type in declared.items():
        value = values.get(name)
        if value is None and input_type != "checkbox":
            continue
        text = ("true" if value is True else "false") if input_type == "checkbox" else _text(value)
        ET.SubElement(shape, "attribute", name=name).text = text


def _text(value: AttributeValue | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _num(value)
    return "" if value is None else str(value)


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))
