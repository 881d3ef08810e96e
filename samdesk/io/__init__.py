"""Dataset import and export: the formats training pipelines read, built on document ``Project``s.

- ``formats``: the format names offered by the CLI and the GUI, bound to exporters / importers.
- ``coco``: COCO instance JSON (RLE or polygons); ``polygons``: mask <-> polygon conversion.
- ``png_masks``: instance (uint16) and semantic (palette) PNGs with a legend; ``label_png``: their files.
- ``yolo``: YOLO-seg labels and data.yaml; ``video_masks``: DAVIS / YouTube-VOS folders, YouTube-VIS.
- ``common``: options, results, counted warnings, selection; ``import_plan``: an import as one
  undoable ``Batch``; ``runs``: masks handled as RLE runs without full decodes.

Exporters read a project and write files; importers read files and return a command that the
caller executes on its ``Document`` (nothing changes before that, so a failed import changes nothing).
"""
