"""Reading a CVAT XML 1.1 file ("CVAT for images" and "CVAT for video") into plain records.

Only the XML is read here; ``samdesk/io/cvat.py`` turns the records into objects. The file is
streamed (``iterparse``), so a large task costs its records, not its XML tree. A document type
declaration is refused before parsing: CVAT never writes one, and entity definitions are how
small XML files ask parsers for unbounded work.

Shapes are kept as written: ``kind`` is the element name (``box``, ``polygon``, ``polyline``,
``points``, ``mask``, ``ellipse``, ``cuboid``, ``skeleton``, ``tag``), ``attrib`` its attributes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from samdesk.io.common import DatasetError

SHAPES = frozenset({"box", "polygon", "polyline", "points", "mask", "ellipse", "cuboid", "skeleton", "tag"})
_SCAN_CHUNK = 1 << 20
MAX_ATTRIBUTES = 256  # per shape; more is not a real annotation


@dataclass
class Shape:
    kind: str
    attrib: dict[str, str]
    attributes: dict[str, str] = field(default_factory=dict)  # its <attribute name=...> children


@dataclass
class Image:
    """An ``<image>`` (CVAT for images): its name, declared size and shapes in file order."""

    id: str
    name: str
    width: str | None
    height: str | None
    shapes: list[Shape] = field(default_factory=list)


@dataclass
class Track:
    """A ``<track>`` (CVAT for video): one object's shapes, one per written frame."""

    id: str
    label: str
    group_id: str
    shapes: list[Shape] = field(default_factory=list)


@dataclass
class Meta:
    labels: list[str] = field(default_factory=list)
    size: str | None = None  # frames of the task
    start_frame: str | None = None
    frame_filter: str | None = None  # "step=N"
    source: str | None = None  # the video's file name (video tasks)
    original_size: tuple[str | None, str | None] = (None, None)  # (width, height) of video frames
    # An attribute's <input_type> (checkbox, number, text, select, radio) by its name, the first
    # label declaring it deciding.
    attribute_types: dict[str, str] = field(default_factory=dict)
    tag_labels: set[str] = field(default_factory=set)  # labels of <type>tag</type>: image tags only


@dataclass
class CvatFile:
    meta: Meta
    images: list[Image]
    tracks: list[Track]


def read_cvat_xml(path: Path) -> CvatFile:
    """Parse ``path``; raises :class:`DatasetError` naming it for anything that is not CVAT XML."""
    refuse_doctype(path)
    meta, images, tracks = Meta(), [], []
    image: Image | None = None
    track: Track | None = None
    depth_in_meta = 0
    open_shapes = 0  # a skeleton holds <points> of its own: only outermost shapes count
    attributes: dict[str, str] = {}  # the <attribute> children of the open outermost shape
    try:
        for event, element in ET.iterparse(path, events=("start", "end")):
            tag = element.tag
            if event == "start":
                if tag == "meta":
                    depth_in_meta += 1
                elif tag == "image" and not depth_in_meta:
                    image = Image(
                        element.get("id", ""),
                        element.get("name", ""),
                        element.get("width"),
                        element.get("height"),
                    )
                elif tag == "track" and not depth_in_meta:
                    track = Track(
                        element.get("id", ""), element.get("label", ""), element.get("group_id", "0")
                    )
                elif tag in SHAPES:
                    open_shapes += 1
                continue
            if tag == "meta":
                depth_in_meta -= 1
                _read_meta(element, meta)
                element.clear()
            elif depth_in_meta:
                continue
            elif tag == "attribute" and open_shapes == 1:
                name = element.get("name")
                if name is not None and len(attributes) < MAX_ATTRIBUTES:
                    attributes[name] = element.text or ""
            elif tag in SHAPES:
                open_shapes -= 1
                if open_shapes == 0 and (image is not None or track is not None):
                    shape = Shape(tag, dict(element.attrib), attributes)
                    attributes = {}
                    (image.shapes if image is not None else track.shapes).append(shape)  # type: ignore[union-attr]
                    element.clear()
            elif tag == "image" and image is not None:
                images.append(image)
                image = None
                element.clear()
            elif tag == "track" and track is not None:
                tracks.append(track)
                track = None
                element.clear()
    except ET.ParseError as exc:
        raise DatasetError(f"{path}: not valid XML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    if not meta.labels and not images and not tracks:
        raise DatasetError(f"{path}: not a CVAT XML file (no <meta> labels, <image> or <track>)")
    return CvatFile(meta, images, tracks)


def refuse_doctype(path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            tail = b""
            while block := fh.read(_SCAN_CHUNK):
                window = tail + block
                if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                    raise DatasetError(
                        f"{path}: XML with a document type declaration is refused (CVAT writes none)"
                    )
                tail = block[-16:]
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _read_meta(element: ET.Element, meta: Meta) -> None:
    """Labels and frame numbering, from ``<meta><task>`` (or ``<job>``, ``<project>``)."""
    seen = set(meta.labels)
    for label in element.iter("label"):
        name = label.findtext("name")
        if name is not None and name not in seen:
            seen.add(name)
            meta.labels.append(name)
            if (label.findtext("type") or "").strip() == "tag":
                meta.tag_labels.add(name)
        for attribute in label.iter("attribute"):
            attribute_name, kind = attribute.findtext("name"), attribute.findtext("input_type")
            if attribute_name is not None and kind is not None:
                meta.attribute_types.setdefault(attribute_name, kind.strip())
    for key in ("size", "start_frame", "frame_filter", "source"):
        found = next(element.iter(key), None)
        if found is not None and found.text is not None and getattr(meta, key) is None:
            setattr(meta, key, found.text.strip())
    original = next(element.iter("original_size"), None)
    if original is not None:
        meta.original_size = (original.findtext("width"), original.findtext("height"))
