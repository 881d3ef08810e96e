"""Boxes and polygons as annotations in their own right (issue 18): kept in the project, and
exported as boxes and polygons by the formats that hold them, checked with the readers people
use (pycocotools, supervision) and our own importers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from samdesk.document import Document, masks
from samdesk.document.attributes import OCCLUDED, TRUNCATED
from samdesk.document.model import AnnotationObject, Category, MediaItem, MediaKind, Project
from samdesk.document.persistence import ProjectFileError, load_project, save_project
from samdesk.document.shapes import box_frame, handles, kind, moved, polygon_frame
from samdesk.io.coco import import_coco
from samdesk.io.common import DatasetError
from samdesk.io.cvat import import_cvat
from samdesk.io.formats import run_export
from samdesk.io.yolo_import import import_yolo
from tests.readers import supervision_yolo

W, H = 800, 534  # dog.jpg
TRIANGLE = ((100.5, 100.0), (300.0, 120.25), (180.0, 400.0))
BOX = (420.0, 50.0, 700.0, 300.0)


def shapes_project(media_dir: Path) -> Project:
    """dog.jpg with a polygon, a box and a mask object (the mask a disc)."""
    project = Project(categories=[Category(1, "dog", (255, 0, 0)), Category(2, "ball", (0, 0, 255))])
    project.media = [MediaItem(1, MediaKind.IMAGE, str(media_dir / "dog.jpg"), W, H)]
    yy, xx = np.mgrid[0:H, 0:W]
    disc = (yy - 450) ** 2 + (xx - 600) ** 2 <= 40**2
    from samdesk.document.model import FrameAnnotation

    project.objects = [
        AnnotationObject(1, 1, 1, {0: polygon_frame(TRIANGLE, H, W)}),
        AnnotationObject(2, 1, 2, {0: box_frame(BOX, H, W)}, attributes={TRUNCATED: True, OCCLUDED: True}),
        AnnotationObject(3, 1, 2, {0: FrameAnnotation(masks.encode(disc))}),
    ]
    project.next_ids.update(category=3, media=2, object=4)
    return project


def test_kinds_handles_and_moving_a_handle() -> None:
    polygon, box = polygon_frame(TRIANGLE, H, W), box_frame((700.0, 300.0, 420.0, 50.0), H, W)
    assert (kind(polygon), kind(box)) == ("polygon", "box")
    assert box.prompts.box == BOX  # any corner order, stored x0 < x1, y0 < y1
    assert handles(box) == [(420.0, 50.0), (700.0, 50.0), (700.0, 300.0), (420.0, 300.0)]
    # The pixels are what pycocotools draws for the polygon (what a COCO reader gets).
    from pycocotools import mask as mask_utils

    flat = [v for p in TRIANGLE for v in p]
    expected = mask_utils.decode(mask_utils.frPyObjects([flat], H, W)[0]).astype(bool)
    assert np.array_equal(masks.decode(polygon.rle), expected)
    dragged = moved(polygon, 2, (180.0, 500.0), H, W)
    assert dragged.polygon == (TRIANGLE[0], TRIANGLE[1], (180.0, 500.0))
    assert masks.area(dragged.rle) > masks.area(polygon.rle)
    corner = moved(box, 2, (900.0, 320.0), H, W)  # dragged past the border: clipped
    assert corner.prompts.box == (420.0, 50.0, 800.0, 320.0)
    with pytest.raises(ValueError):
        box_frame((10.0, 10.0, 10.0, 50.0), H, W)
    with pytest.raises(ValueError):
        polygon_frame(TRIANGLE[:2], H, W)


def test_polygons_round_trip_through_the_project_file(media_dir: Path, tmp_path: Path) -> None:
    project = shapes_project(media_dir)
    path = tmp_path / "p.samdesk.json"
    save_project(project, path)
    data = json.loads(path.read_text("utf-8"))
    assert data["objects"][0]["frames"][0]["polygon"] == [list(p) for p in TRIANGLE]
    assert "polygon" not in data["objects"][2]["frames"][0]
    assert load_project(path).project == project
    data["objects"][0]["frames"][0]["polygon"] = [[1, 2], [3, "x"], [5, 6]]
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ProjectFileError, match=r"objects\[0\]\.frames\[0\]\.polygon"):
        load_project(path)


def test_coco_writes_a_box_as_bbox_only_and_a_polygon_as_its_vertices(
    media_dir: Path, tmp_path: Path
) -> None:
    project = shapes_project(media_dir)
    out = tmp_path / "coco.json"
    run_export("coco", project, out, images_root=media_dir)
    coco = COCO(str(out))
    polygon, box, disc = (coco.anns[i] for i in (1, 2, 3))
    assert polygon["segmentation"] == [[v for p in TRIANGLE for v in p]]
    drawn = masks.decode(project.objects[0].frames[0].rle)
    assert np.array_equal(coco.annToMask(polygon).astype(bool), drawn)
    assert box["segmentation"] == [] and box["bbox"] == [420.0, 50.0, 280.0, 250.0]
    assert isinstance(disc["segmentation"], dict)  # a mask stays RLE
    document = Document()
    result = import_coco(document.project, out, media_dir)
    document.execute(result.command)
    kinds = [kind(o.frames[0]) for o in document.project.objects]
    assert kinds == ["polygon", "box", "mask"]
    assert document.project.objects[0].frames[0].polygon == TRIANGLE
    assert document.project.objects[1].frames[0].prompts.box == BOX


def test_yolo_detect_and_seg_hold_boxes(media_dir: Path, tmp_path: Path) -> None:
    project = shapes_project(media_dir)
    detect = tmp_path / "detect"
    result = run_export("yolo-detect", project, detect, images_root=media_dir)
    assert result.annotations == 3
    lines = (detect / "labels" / "dog.txt").read_text().split("\n")
    cx, cy = (BOX[0] + BOX[2]) / 2 / W, (BOX[1] + BOX[3]) / 2 / H
    w, h = (BOX[2] - BOX[0]) / W, (BOX[3] - BOX[1]) / H
    assert lines[1] == f"1 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"
    read = supervision_yolo(detect)["dog.jpg"]
    assert np.allclose(read.xyxy[1], BOX, atol=0.01)
    x, y, bw, bh = masks.bbox(project.objects[2].frames[0].rle)
    assert np.allclose(read.xyxy[2], (x, y, x + bw, y + bh), atol=0.01)
    # yolo-seg: a box is its rectangle (a segmentation dataset has no box lines).
    seg = tmp_path / "seg"
    run_export("yolo-seg", project, seg, images_root=media_dir)
    corners = (seg / "labels" / "dog.txt").read_text().split("\n")[1].split()
    assert corners[0] == "1" and np.allclose(
        np.array(corners[1:], float).reshape(4, 2) * (W, H), [(420, 50), (700, 50), (700, 300), (420, 300)]
    )
    document = Document()
    document.execute(import_yolo(document.project, detect, media_dir).command)
    assert [kind(o.frames[0]) for o in document.project.objects] == ["box", "box", "box"]


def test_voc_detection_boxes_as_the_devkit_and_supervision_read_them(media_dir: Path, tmp_path: Path) -> None:
    import supervision as sv

    project = shapes_project(media_dir)
    out = tmp_path / "voc"
    result = run_export("voc-detect", project, out, images_root=media_dir)
    assert result.annotations == 3
    root = ET.parse(out / "Annotations" / "dog.xml").getroot()
    objects = root.findall("object")
    assert [o.findtext("name") for o in objects] == ["dog", "ball", "ball"]
    second = objects[1]
    corners = [second.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
    assert corners == ["421", "51", "700", "300"]
    assert (second.findtext("truncated"), second.findtext("occluded")) == ("1", "1")
    assert (out / "ImageSets" / "Main" / "default.txt").read_text() == "dog\n"
    ds = sv.DetectionDataset.from_pascal_voc(str(out / "JPEGImages"), str(out / "Annotations"))
    (_path, _image, detections), = list(ds)
    assert np.allclose(detections.xyxy[1], BOX)
    assert [ds.classes[i] for i in detections.class_id] == ["dog", "ball", "ball"]


def test_cvat_writes_polygon_and_box_and_reads_them_back(media_dir: Path, tmp_path: Path) -> None:
    project = shapes_project(media_dir)
    out = tmp_path / "annotations.xml"
    run_export("cvat", project, out, images_root=media_dir)
    image = ET.parse(out).getroot().find("image")
    assert [child.tag for child in image] == ["polygon", "box", "mask"]
    assert image.find("polygon").get("points") == "100.5,100;300,120.25;180,400"
    document = Document()
    document.execute(import_cvat(document.project, out, media_dir).command)
    back = document.project.objects
    assert [kind(o.frames[0]) for o in back] == ["polygon", "box", "mask"]
    for before, after in zip(project.objects, back, strict=True):
        assert before.frames[0].polygon == after.frames[0].polygon
        assert np.array_equal(masks.decode(before.frames[0].rle), masks.decode(after.frames[0].rle))


def test_cvat_video_tracks_round_trip_with_gaps_and_kinds(media_dir: Path, tmp_path: Path) -> None:
    """One track per object; every frame a keyframe, ``outside`` after each run of frames; masks,
    boxes and polygons; read back onto the video by our CVAT import."""
    from samdesk.document.model import FrameAnnotation

    w, h, count = 960, 540, 200  # bedroom.mp4
    project = Project(categories=[Category(1, "bed", (255, 0, 0)), Category(2, "lamp", (0, 255, 0))])
    video = MediaItem(1, MediaKind.VIDEO, str(media_dir / "bedroom.mp4"), w, h, frame_count=count, fps=30.0)
    project.media = [video]
    yy, xx = np.mgrid[0:h, 0:w]
    disc = lambda f: (yy - 200) ** 2 + (xx - (300 + 5 * f)) ** 2 <= 50**2  # noqa: E731
    project.objects = [
        AnnotationObject(1, 1, 1, {f: FrameAnnotation(masks.encode(disc(f))) for f in (0, 1, 2, 10, 11)},
                         attributes={OCCLUDED: True, "depth": 2}),
        AnnotationObject(2, 1, 2, {f: box_frame((50.0 + f, 60.0, 200.0, 300.0), h, w) for f in (5, 6)}),
        AnnotationObject(3, 1, 2, {199: polygon_frame(TRIANGLE, h, w)}),
    ]
    project.next_ids.update(category=3, media=2, object=4)
    out = tmp_path / "cvat"
    result = run_export("cvat-video", project, out, images_root=media_dir)
    assert result.files == [out / "bedroom.xml"] and result.annotations == 3  # tracks
    root = ET.parse(out / "bedroom.xml").getroot()
    assert root.findtext("meta/task/source") == "bedroom.mp4" and root.findtext("meta/task/size") == "200"
    first = root.findall("track")[0]
    assert [(m.get("frame"), m.get("outside")) for m in first] == [
        ("0", "0"), ("1", "0"), ("2", "0"), ("3", "1"), ("10", "0"), ("11", "0"), ("12", "1")
    ]
    assert [t[0].tag for t in root.findall("track")] == ["mask", "box", "polygon"]
    document = Document()
    imported = import_cvat(document.project, out / "bedroom.xml", media_dir)
    document.execute(imported.command)
    assert not imported.warnings
    back = document.project.objects
    assert [sorted(o.frames) for o in back] == [[0, 1, 2, 10, 11], [5, 6], [199]]
    assert back[0].attributes == {OCCLUDED: True, "depth": 2}
    for before, after in zip(project.objects, back, strict=True):
        for f, frame in before.frames.items():
            assert kind(after.frames[f]) == kind(frame)
            assert np.array_equal(masks.decode(after.frames[f].rle), masks.decode(frame.rle))
            assert after.frames[f].prompts.box == frame.prompts.box
            assert after.frames[f].polygon == frame.polygon


def test_pixel_formats_say_a_box_annotation_is_left_out(media_dir: Path, tmp_path: Path) -> None:
    from samdesk.io.common import BOX_WITHOUT_PIXELS

    project = shapes_project(media_dir)
    for name in ("png-instance", "png-semantic"):
        result = run_export(name, project, tmp_path / name, images_root=media_dir)
        assert result.warnings.counts == {BOX_WITHOUT_PIXELS: 1}, name


def test_voc_detection_round_trip_and_a_devkit_file(media_dir: Path, tmp_path: Path) -> None:
    from samdesk.io.voc_detect_import import import_voc_detection

    project = shapes_project(media_dir)
    out = tmp_path / "voc"
    run_export("voc-detect", project, out, images_root=media_dir)
    document = Document()
    result = import_voc_detection(document.project, out, media_dir)
    document.execute(result.command)
    assert not result.warnings
    back = document.project.objects
    assert [kind(o.frames[0]) for o in back] == ["box", "box", "box"]
    assert back[1].frames[0].prompts.box == BOX and back[1].attributes == {TRUNCATED: True, OCCLUDED: True}
    x, y, w, h = masks.bbox(project.objects[2].frames[0].rle)
    assert back[2].frames[0].prompts.box == (x, y, x + w, y + h)
    # A file as the devkit writes it: difficult flag, a box past the border, a broken object.
    (tmp_path / "devkit" / "Annotations").mkdir(parents=True)
    (tmp_path / "devkit" / "Annotations" / "dog.xml").write_text(
        "<annotation><filename>dog.jpg</filename><size><width>800</width><height>534</height></size>"
        "<object><name>dog</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>10</ymin>"
        "<xmax>900</xmax><ymax>20</ymax></bndbox></object>"
        "<object><name>dog</name><bndbox><xmin>x</xmin></bndbox></object></annotation>",
        "utf-8",
    )
    document = Document()
    result = import_voc_detection(document.project, tmp_path / "devkit", media_dir)
    document.execute(result.command)
    assert result.warnings.counts == {"object without a name or a complete box skipped": 1}
    (obj,) = document.project.objects
    assert obj.frames[0].prompts.box == (0.0, 9.0, 800.0, 20.0)
    assert obj.attributes == {"difficult": True}
    bomb = '<!DOCTYPE a [<!ENTITY x "y">]><annotation/>'
    (tmp_path / "devkit" / "Annotations" / "dog.xml").write_text(bomb)
    with pytest.raises(DatasetError, match="document type"):
        import_voc_detection(Document().project, tmp_path / "devkit", media_dir)


def test_video_pixel_formats_say_a_box_annotation_is_left_out(media_dir: Path, tmp_path: Path) -> None:
    from samdesk.document.model import FrameAnnotation
    from samdesk.io.common import BOX_WITHOUT_PIXELS

    w, h = 960, 540  # bedroom.mp4
    project = Project(categories=[Category(1, "bed", (255, 0, 0))])
    project.media = [MediaItem(1, MediaKind.VIDEO, str(media_dir / "bedroom.mp4"), w, h, frame_count=200)]
    mask = np.zeros((h, w), bool)
    mask[10:50, 10:50] = True
    frames = {0: FrameAnnotation(masks.encode(mask)), 1: box_frame((5.0, 5.0, 60.0, 60.0), h, w)}
    project.objects = [AnnotationObject(1, 1, 1, frames)]
    for name in ("ytvis", "davis"):
        result = run_export(name, project, tmp_path / name, images_root=media_dir)
        assert result.warnings.counts.get(BOX_WITHOUT_PIXELS) == 1, (name, result.warnings.counts)


def test_labelme_export_round_trips_boxes_masks_flags_and_tags(media_dir: Path, tmp_path: Path) -> None:
    from samdesk.io.labelme import import_labelme

    project = shapes_project(media_dir)
    project.objects[2].name = "red ball"
    project.objects[0].attributes = {"note": "a text attribute"}
    project.media[0].tags = ["outdoor"]
    out = tmp_path / "labelme"
    result = run_export("labelme", project, out, images_root=media_dir)
    assert result.annotations == 3
    assert result.warnings.counts == {"text or number attribute left out (labelme has only flags)": 1}
    data = json.loads((out / "dog.json").read_text("utf-8"))
    assert Path(out / data["imagePath"]).resolve() == (media_dir / "dog.jpg").resolve()
    assert data["flags"] == {"outdoor": True} and data["imageData"] is None
    polygon, box, disc = data["shapes"]
    assert polygon["shape_type"] == "polygon" and polygon["points"] == [list(p) for p in TRIANGLE]
    assert box["shape_type"] == "rectangle" and box["points"] == [[420.0, 50.0], [700.0, 300.0]]
    assert box["flags"] == {TRUNCATED: True, OCCLUDED: True}
    assert disc["shape_type"] == "mask" and disc["description"] == "red ball"
    document = Document()
    imported = import_labelme(document.project, out, tmp_path)
    document.execute(imported.command)
    assert not imported.warnings
    back = document.project.objects
    assert [kind(o.frames[0]) for o in back] == ["mask", "box", "mask"]  # labelme draws polygons
    assert back[1].frames[0].prompts.box == BOX and back[1].attributes == {TRUNCATED: True, OCCLUDED: True}
    assert np.array_equal(masks.decode(back[2].frames[0].rle), masks.decode(project.objects[2].frames[0].rle))
    assert back[2].name == "red ball" and document.project.media[0].tags == ["outdoor"]
    assert masks.iou(back[0].frames[0].rle, project.objects[0].frames[0].rle) > 0.97


def test_voc_boxes_cover_the_pixels_a_fractional_box_touches(media_dir: Path, tmp_path: Path) -> None:
    project = shapes_project(media_dir)
    project.objects[1].frames[0] = box_frame((420.4, 50.6, 699.5, 300.0), H, W)
    run_export("voc-detect", project, tmp_path / "voc", images_root=media_dir)
    second = ET.parse(tmp_path / "voc" / "Annotations" / "dog.xml").getroot().findall("object")[1]
    corners = [second.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
    assert corners == ["421", "51", "700", "300"]  # pixels 420..699 and 50..299, 1-based
    labelmap = (tmp_path / "voc" / "labelmap.txt").read_text().splitlines()
    assert labelmap[1:] == ["background:0,0,0::", "dog:255,0,0::", "ball:0,0,255::"]
