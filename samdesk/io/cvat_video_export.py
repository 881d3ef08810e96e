"""Export videos as CVAT for video 1.1 XML (``cvat-video``): one ``<video name>.xml`` per video
under ``out``, each the annotation file of one CVAT task made from that video.

* Each categorised object with a mask on an exported frame is one ``<track>``. Every frame it has
  is a keyframe (masks do not interpolate), and the frame after each run of frames is written
  ``outside="1"``, so a track ends where the object's frames end (CVAT, and our import, carry a
  track on to the next keyframe or the end of the task otherwise).
* A track holds one kind of shape: ``<box>`` when every frame of the object is a box annotation,
  ``<polygon>`` when every one is a polygon, else ``<mask>`` (CVAT's row-major ``rle`` in the box;
  a box among masks becomes its filled rectangle).
* Attributes as in ``cvat_export.py``, on every shape of the track; ``<meta>`` names the video
  (``<source>``), its size and frame count. Images are skipped (use ``cvat``), and so are the
  video's image tags (CVAT tags video frames, not videos).

``samdesk/io/cvat.py`` reads it back onto the video file (``--images`` its folder).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from samdesk.document import masks
from samdesk.document.model import AnnotationObject, Category, MediaKind, Project
from samdesk.document.shapes import kind
from samdesk.io.common import (
    UNCATEGORISED,
    CancelFn,
    ExportOptions,
    ExportResult,
    ProgressFn,
    SelectedMedia,
    out_of_memory_names,
    report,
)
from samdesk.io.cvat_export import (
    declared_attributes,
    labels_element,
    shape_attrib,
    shape_element,
    task_element,
    write_attributes,
    xml_bytes,
)
from samdesk.io.output import start_export, unique_stems


def export_cvat_video(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write one CVAT for video 1.1 XML file per video of the project into the folder ``out``."""
    options = options or ExportOptions()
    skipped = "image skipped (CVAT for video; use cvat)"
    start = start_export(project, out, options, folder=True, kind=MediaKind.VIDEO, other_kind=skipped)
    result, output, categories, selected = start.result, start.output, start.categories, start.selected
    names = start.names
    stems = unique_stems([item.media.name for item in selected], "_", result.warnings, "{}.xml")
    with output:
        for done, (item, stem) in enumerate(zip(selected, stems, strict=True)):
            report(progress, cancel, done, len(selected))
            with out_of_memory_names(item.media):
                top = _task(item, names, categories, result)
            target = output.path(f"{stem}.xml")
            output.write_bytes(target, xml_bytes(top))
            result.files.append(target)
            result.media += 1
            result.frames += len(item.frames)
        report(progress, cancel, len(selected), len(selected))
    return result


def _task(
    item: SelectedMedia, names: dict[int, str], categories: list[Category], result: ExportResult
) -> ET.Element:
    media = item.media
    wanted = set(item.frames)
    tracks: list[tuple[AnnotationObject, list[int]]] = []
    for obj in item.objects:
        # Frames with something to draw: a box, or pixels (an empty mask is nothing).
        frames = sorted(
            f for f, a in obj.frames.items() if f in wanted and (kind(a) == "box" or masks.area(a.rle) > 0)
        )
        if not frames:
            continue
        if obj.category_id not in names:
            result.warnings.add(UNCATEGORISED, f"{media.name} #{obj.id}")
            continue
        tracks.append((obj, frames))
    attributes = declared_attributes([obj for obj, _ in tracks], names)
    top, meta = task_element(media.name, media.frame_count, "interpolation")
    for key, value in (("start_frame", 0), ("stop_frame", media.frame_count - 1), ("frame_filter", "")):
        ET.SubElement(meta, key).text = str(value)
    labels_element(meta, categories, attributes, [])
    size = ET.SubElement(meta, "original_size")
    ET.SubElement(size, "width").text = str(media.width)
    ET.SubElement(size, "height").text = str(media.height)
    ET.SubElement(meta, "source").text = media.name
    result.annotations += len(tracks)  # objects, as the other video formats count them
    for index, (obj, frames) in enumerate(tracks):
        label = names[obj.category_id]  # type: ignore[index]
        track = ET.SubElement(top, "track", id=str(index), label=label, source="manual")
        kinds = {kind(obj.frames[f]) for f in frames}
        as_kind = next(iter(kinds)) if len(kinds) == 1 else "mask"
        common = shape_attrib(obj, label, index)
        for position, frame in enumerate(frames):
            attrib = {"frame": str(frame), "keyframe": "1", "outside": "0", **common}
            write_attributes(
                shape_element(track, obj.frames[frame], attrib, as_kind),  # type: ignore[arg-type]
                obj.attributes,
                attributes.get(label, {}),
            )
            after = frame + 1
            run_ends = position + 1 == len(frames) or frames[position + 1] != after
            if run_ends and after < media.frame_count:
                attrib = {**attrib, "frame": str(after), "outside": "1"}
                write_attributes(
                    shape_element(track, obj.frames[frame], attrib, as_kind),  # type: ignore[arg-type]
                    obj.attributes,
                    attributes.get(label, {}),
                )
    return top
