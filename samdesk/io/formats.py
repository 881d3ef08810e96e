"""The format names the CLI and the GUI offer, each bound to its exporter or importer.

:func:`export_formats` is what they offer: the built-in formats (:data:`BUILTIN_EXPORT_FORMATS`),
then those installed exporter plugins add (``samdesk/io/plugins.py``, ``plugins/README.md``).

Every exporter is ``(project, out, options, progress, cancel) -> ExportResult`` and every importer
``(project, path, images_dir, progress, cancel, *, keep_duplicates) -> ImportResult``, so callers
need no per-format code beyond choosing the options class.

Exporters only read the project and importers never change it, so a GUI can run either on a
worker thread, on a ``project.clone()`` (the user may keep editing meanwhile), passing a
``cancel`` callable; it applies an import's ``result.command`` on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from samdesk.document.model import Project
from samdesk.io.coco import CocoExportOptions, export_coco, import_coco
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ExportOptions,
    ExportResult,
    ProgressFn,
    unannotated_images,
)
from samdesk.io.cvat import import_cvat
from samdesk.io.cvat_export import export_cvat
from samdesk.io.cvat_video_export import export_cvat_video
from samdesk.io.export_frames import VideoExportOptions
from samdesk.io.import_plan import ImportResult
from samdesk.io.labelme import import_labelme
from samdesk.io.labelme_export import export_labelme
from samdesk.io.png_masks import (
    export_png_instance,
    export_png_semantic,
    import_png_instances,
    import_png_semantic,
)
from samdesk.io.sa1b import import_sa1b
from samdesk.io.sequences import import_davis
from samdesk.io.video_masks import DavisExportOptions, export_davis, export_ytvos
from samdesk.io.voc import import_voc
from samdesk.io.voc_detect_import import import_voc_detection
from samdesk.io.voc_export import VocExportOptions, export_voc_detection
from samdesk.io.yolo import YoloExportOptions, export_yolo
from samdesk.io.yolo_import import import_yolo
from samdesk.io.ytvis import export_ytvis
from samdesk.io.ytvis_import import import_ytvis

Exporter = Callable[[Project, Path, ExportOptions, ProgressFn | None, CancelFn | None], ExportResult]


class Importer(Protocol):
    """``keep_duplicates``: add objects the project already has (same medium, same masks) again
    instead of skipping them with a warning."""

    def __call__(
        self,
        project: Project,
        path: Path,
        images_dir: Path,
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
        *,
        keep_duplicates: bool = False,
    ) -> ImportResult: ...


@dataclass(frozen=True)
class ExportFormat:
    """One export format: the name offered, a line saying what it writes, its exporter, the
    options class the exporter takes and the option values the format fixes."""

    name: str
    description: str
    export: Exporter
    options: type[ExportOptions]
    defaults: dict  # option values this format fixes (e.g. the COCO mask encoding)
    single_file: bool  # ``out`` is a file (else a folder)
    file_suffix: str = ".json"  # of the file a single-file format writes


BUILTIN_EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "coco",
            "COCO instances JSON, masks as RLE (lossless)",
            export_coco,
            CocoExportOptions,
            {"encoding": "rle"},
            True,
        ),
        ExportFormat(
            "coco-polygon",
            "COCO instances JSON, masks as polygons",
            export_coco,
            CocoExportOptions,
            {"encoding": "polygon"},
            True,
        ),
        ExportFormat(
            "cvat",
            "CVAT for images 1.1 XML: masks, boxes, attributes and image tags",
            export_cvat,
            ExportOptions,
            {},
            True,
            ".xml",
        ),
        ExportFormat(
            "cvat-video",
            "CVAT for video 1.1 XML, one file per video: a track per object (masks, boxes, polygons)",
            export_cvat_video,
            ExportOptions,
            {},
            False,
        ),
        ExportFormat(
            "labelme",
            "labelme JSON, one file per image: polygons, rectangles, masks, flags",
            export_labelme,
            ExportOptions,
            {},
            False,
        ),
        ExportFormat(
            "voc-detect",
            "Pascal VOC detection: Annotations/<image>.xml boxes, JPEGImages/, ImageSets/Main",
            export_voc_detection,
            VocExportOptions,
            {},
            False,
        ),
        ExportFormat(
            "png-instance",
            "one 16-bit instance PNG per image + legend.json",
            export_png_instance,
            ExportOptions,
            {},
            False,
        ),
        ExportFormat(
            "png-semantic",
            "one palette PNG of categories per image + legend.json",
            export_png_semantic,
            ExportOptions,
            {},
            False,
        ),
        ExportFormat(
            "yolo-seg", "YOLO segmentation labels + data.yaml", export_yolo, YoloExportOptions, {}, False
        ),
        ExportFormat(
            "yolo-detect",
            "YOLO detection labels (a box per object) + data.yaml",
            export_yolo,
            YoloExportOptions,
            {"task": "detect"},
            False,
        ),
        ExportFormat(
            "davis",
            "DAVIS 2017: JPEG frames, palette PNG masks (480p or full size), ImageSets",
            export_davis,
            DavisExportOptions,
            {},
            False,
        ),
        ExportFormat(
            "ytvos",
            "YouTube-VOS: JPEG frames, palette PNG masks, meta.json",
            export_ytvos,
            VideoExportOptions,
            {},
            False,
        ),
        ExportFormat(
            "ytvis",
            "YouTube-VIS: JPEG frames and instances.json, one RLE track per object",
            export_ytvis,
            VideoExportOptions,
            {},
            False,
        ),
    )
}

IMPORT_FORMATS: dict[str, Importer] = {
    "coco": import_coco,
    "png-instance": import_png_instances,
    "png-semantic": import_png_semantic,
    "davis": import_davis,
    "ytvos": import_davis,  # the same palette PNG folders (Annotations/<video>/) and meta.json
    "yolo-seg": import_yolo,
    "labelme": import_labelme,
    "cvat": import_cvat,
    "voc": import_voc,  # Pascal VOC segmentation and CVAT "Segmentation mask 1.1"
    "voc-detect": import_voc_detection,  # Pascal VOC detection boxes (Annotations/*.xml)
    "ytvis": import_ytvis,
    "sa1b": import_sa1b,
}


def export_formats() -> dict[str, ExportFormat]:
    """Every export format offered, by name: the built-in ones, then those of exporter plugins
    (a plugin that fails to load is left out with a warning in the log)."""
    from samdesk.io.plugins import plugin_export_formats  # builds on this module

    added, _problems = plugin_export_formats(BUILTIN_EXPORT_FORMATS)
    return {**BUILTIN_EXPORT_FORMATS, **{f.name: f for f in added}}


def run_export(
    name: str,
    project: Project,
    out: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    **options: object,
) -> ExportResult:
    """Export ``project`` as format ``name`` (one of :func:`export_formats`); ``options`` are
    fields of that format's options class.

    Raises :class:`DatasetError` (:class:`~samdesk.io.output.OutputExists` when a file is in the
    way and ``overwrite`` was not given); a failed or cancelled export leaves nothing behind.
    """
    formats = export_formats()
    if name not in formats:
        raise DatasetError(f"no export format {name!r}; the formats are: {', '.join(formats)}")
    fmt = formats[name]
    opts = fmt.options(**{**options, **fmt.defaults})
    try:
        result = fmt.export(project, Path(out), opts, progress, cancel)
    except MemoryError:  # the exporters name the medium where they can; this is the rest
        raise DatasetError(f"{out}: not enough memory to write this {name} export") from None
    left_out = unannotated_images(project, opts) if isinstance(opts, ExportOptions) else 0
    if left_out:
        result.summary.append(
            f"{left_out} image{'s' if left_out != 1 else ''} without objects and not marked done left "
            "out (include them: --include-unannotated, or the Export dialog's check box)"
        )
    return result
