"""Datasets written by the other tools' own writers import as those tools mean them.

The fixtures in tests/data/datasets were written by datumaro (CVAT for images, VOC segmentation,
COCO, SA-1B, Ultralytics YOLO), labelme2coco and supervision, and by hand for labelme; each
fixture's ``expected.json`` entry is what the writing tool itself rasterises (its own mask
tools, labelme's own ``shape_to_mask``), see tests/data/datasets/make_fixtures.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from samdesk.cli import main
from samdesk.document import Document, masks
from samdesk.document.boxes import is_box_only
from samdesk.document.persistence import load_project
from samdesk.io.common import DatasetError
from samdesk.io.formats import IMPORT_FORMATS

DATA = Path(__file__).parent / "data" / "datasets"
EXPECTED = json.loads((DATA / "expected.json").read_text())


def _imported(fmt: str, source: Path, images: Path = DATA / "images", **kwargs: object):
    document = Document()
    result = IMPORT_FORMATS[fmt](document.project, source, images, **kwargs)
    document.execute(result.command)
    return document.project, result


def _contents(project) -> dict[str, list[tuple]]:
    """Per image file stem: (category, 'rle', counts) or (category, 'box', box) per object, drawing order."""
    names = {c.id: c.name for c in project.categories}
    out: dict[str, list[tuple]] = {}
    for item in project.media:
        entries = out.setdefault(Path(item.path).stem, [])
        for obj in project.objects_of(item.id):
            frame = obj.frames[0]
            label = names.get(obj.category_id)
            if is_box_only(frame):
                entries.append((label, "box", tuple(round(v, 2) for v in frame.prompts.box)))
            else:
                entries.append((label, "rle", frame.rle["counts"]))
    return out


def _expected(
    fixture: str, kinds: tuple[str, ...] = ("rle", "box"), sources: tuple[str, ...] = ("mask", "polygons")
) -> dict[str, list[tuple]]:
    """What the fixture's writer wrote: ``kinds`` of objects, masks only from ``sources``."""
    out = {}
    for image, objects in EXPECTED[fixture].items():
        objects = [o for o in objects if "box" in o or o.get("source", "mask") in sources]
        out[image] = [
            (o["label"], "box", tuple(round(float(v), 2) for v in o["box"]))
            if "box" in o
            else (o["label"], "rle", o["rle"]["counts"])
            for o in objects
            if ("box" if "box" in o else "rle") in kinds
        ]
    return out


def test_labelme_folder_every_shape_type_as_labelme_draws_it() -> None:
    """Polygons, circle, linestrip, line, point, a base64 mask, an oriented rectangle, a polygon
    and a rectangle in one group (one object), a lone rectangle (a box for the model), a polygon
    partly outside (clipped): pixel-identical to labelme's own shape_to_mask."""
    project, result = _imported("labelme", DATA / "labelme")
    assert _contents(project) == _expected("labelme")
    assert set(result.warnings.counts) == {"shape outside its image; clipped"}
    (bag,) = [o for o in project.objects if o.name]
    assert bag.name == "handle and bag"


def test_labelme_single_file_and_image_found_beside_the_dataset(tmp_path: Path) -> None:
    shutil.copy(DATA / "labelme" / "b.json", tmp_path / "b.json")  # imagePath ../images/b.png is not there
    project, _ = _imported("labelme", tmp_path / "b.json", DATA / "images")
    assert _contents(project) == {"b": _expected("labelme")["b"]}


def test_coco_detection_file_from_labelme2coco_gives_box_only_objects() -> None:
    """labelme2coco writes rectangles as annotations with a bbox and an empty segmentation."""
    project, _ = _imported("coco", DATA / "labelme2coco" / "dataset.json")
    assert _contents(project) == _expected("labelme2coco")


def test_coco_written_by_datumaro() -> None:
    """Polygons (two parts in one annotation), uncompressed RLE masks, and a bbox-only annotation."""
    project, result = _imported("coco", DATA / "datumaro_coco" / "annotations" / "instances_default.json")
    assert _contents(project) == _expected("datumaro_coco")
    assert set(result.warnings.counts) == {"crowd region imported as an object"}  # datumaro's masks


def test_ultralytics_detection_layout_written_by_datumaro() -> None:
    """images/train, labels/train, images/val, labels/val, names as a block mapping: boxes only."""
    project, result = _imported("yolo-seg", DATA / "datumaro_yolo")
    assert _contents(project) == _expected("datumaro_yolo", kinds=("box",))
    assert all(Path(m.path).parent.name in ("train", "val") for m in project.media)
    assert not result.warnings


def test_roboflow_split_layout_written_with_supervision() -> None:
    """train/ and valid/ each with images/ and labels/, data.yaml pointing at ../train/images and a
    test split that is not there, names as a flow list: each polygon exactly as Ultralytics' own
    polygons2masks draws it (computed by Ultralytics when the fixture was made)."""
    project, result = _imported("yolo-seg", DATA / "supervision_roboflow", DATA / "no such folder")
    assert not result.warnings
    assert [c.name for c in project.categories] == ["car", "dog", "person"]
    expected = {
        name: [(o["label"], "rle", o["ultralytics"]["counts"]) for o in objects]
        for name, objects in EXPECTED["supervision_roboflow"].items()
    }
    assert _contents(project) == expected
    assert {Path(m.path).parents[1].name for m in project.media} == {"train", "valid"}


def test_yolo_names_as_a_flow_mapping_and_the_cli_without_images_dir(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(DATA / "datumaro_yolo", root)
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\nnames: {0: car, 1: dog, 2: 'per son'}\n"
    )
    project_file = tmp_path / "p.samdesk.json"
    assert main(["import", str(root), "--format", "yolo-seg", "--images", str(tmp_path), "--project",
                 str(project_file), "--quiet"]) == 0  # fmt: skip
    project = load_project(project_file).project
    assert [c.name for c in project.categories] == ["car", "dog", "per son"]
    assert [names for names in _contents(project).values()] == [
        [("per son", "box", (40.0, 2.0, 60.0, 14.0))],
        [],
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("names: [a, 'b\n", "not valid YAML at line 2"),
        ("names: {0: a, 2: b}\n", "class ids must be 0..1"),
        ("names: [[a], b]\n", "class name ['a'] is not a text"),
        ("names: !!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
        ("nc: 2\n", "no 'names:' entry"),
    ],
)
def test_bad_data_yaml_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    from samdesk.io.common import DatasetError

    root = tmp_path / "ds"
    shutil.copytree(DATA / "datumaro_yolo", root)
    (root / "data.yaml").write_text(text)
    with pytest.raises(DatasetError, match=re.escape(message)) as info:
        _imported("yolo-seg", root)
    assert "data.yaml" in str(info.value)


# --- CVAT XML ---------------------------------------------------------------------------------------


def test_cvat_for_images_written_by_datumaro() -> None:
    """Polygons grouped into one object, a mask as CVAT's row-major rle, a lone box."""
    project, result = _imported("cvat", DATA / "datumaro_cvat" / "default.xml")
    assert _contents(project) == _expected("datumaro_cvat")
    assert not result.warnings


def _polygon_rle(flat: list[float], h: int, w: int) -> str:
    from samdesk.io.polygons import polygons_to_rle

    return polygons_to_rle([flat], h, w)["counts"]


def test_cvat_for_images_ellipse_rotated_box_groups_z_order_and_shapes_without_area() -> None:
    import math

    from samdesk.io.cvat import ELLIPSE_SIDES

    project, result = _imported("cvat", DATA / "cvat_images")
    t = np.linspace(0, 2 * np.pi, ELLIPSE_SIDES, endpoint=False)
    a = math.radians(30)
    ex, ey = 9 * np.cos(t), 5 * np.sin(t)
    ellipse = np.stack(
        [44 + ex * math.cos(a) - ey * math.sin(a), 30 + ex * math.sin(a) + ey * math.cos(a)], 1
    )
    c, s = math.cos(math.radians(45)), math.sin(math.radians(45))
    plate = [(40 + dx * c - dy * s, 38 + dx * s + dy * c) for dx, dy in ((-8, -4), (8, -4), (8, 4), (-8, 4))]
    assert _contents(project) == {
        "a": [  # z_order 0, 1, 2: the rotated box, the ellipse, the car (its group's box is its box)
            ("plate", "rle", _polygon_rle(np.ravel(plate).tolist(), 48, 64)),
            ("sign", "rle", _polygon_rle(ellipse.ravel().tolist(), 48, 64)),
            ("car", "rle", _polygon_rle([4, 4, 20, 4, 20, 16, 4, 16], 48, 64)),
        ],
        "b": [("person", "box", (55.0, 5.0, 75.0, 50.0))],
    }
    assert [c.name for c in project.categories] == ["person", "car", "sign", "plate", "good frame"]
    assert set(result.warnings.counts) == {"CVAT skeleton has no area; skipped"}
    # The image tag (issue 18) is the image's tag; its label has no <type>tag</type>: also a category.
    assert {Path(m.path).stem: m.tags for m in project.media} == {"a": ["good frame"], "b": []}


def _frames(folder: Path, count: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((48, 64, 3), 30 * i, np.uint8)).save(folder / f"frame_{i:06d}.png")


def test_cvat_for_video_keyframes_interpolate_outside_ends_and_a_track_lasts_to_the_end(
    tmp_path: Path,
) -> None:
    shutil.copy(DATA / "cvat_video" / "annotations.xml", tmp_path / "annotations.xml")
    _frames(tmp_path / "images", 6)
    project, result = _imported("cvat", tmp_path, tmp_path / "elsewhere")
    (video,) = project.media
    assert video.kind.value == "video" and video.frame_count == 6 and Path(video.path).name == "images"
    car, person, dog = project.objects
    names = {c.id: c.name for c in project.categories}
    assert [names[o.category_id] for o in (car, person, dog)] == ["car", "person", "dog"]
    # The polygon moves linearly from frame 0 to its keyframe 4; frame 5 is outside.
    assert sorted(car.frames) == [0, 1, 2, 3, 4]
    for f in range(5):
        dx, dy = 2 * f, f
        moved = [4 + dx, 4 + dy, 20 + dx, 4 + dy, 20 + dx, 16 + dy, 4 + dx, 16 + dy]
        assert car.frames[f].rle["counts"] == _polygon_rle(moved, 48, 64)
    # The box is inside on 1-2, outside from 3, back at 4 and lasting to the task's end.
    assert sorted(person.frames) == [1, 2, 4, 5]
    assert person.frames[2].prompts.box == (40.0, 2.0, 60.0, 14.0)
    assert person.frames[5].prompts.box == (30.0, 20.0, 50.0, 40.0)
    assert all(is_box_only(f) for f in person.frames.values())
    # The mask: CVAT's rle, row-major in its 4×4 box at (10, 30), background first.
    assert sorted(dog.frames) == [2]
    expected = np.zeros((48, 64), bool)
    expected[30:34, 10:14] = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]], bool)
    assert np.array_equal(masks.decode(dog.frames[2].rle), expected)
    assert set(result.warnings.counts) == {
        "CVAT track of shapes without area (polyline, points, ...) skipped"
    }


def test_cvat_video_frames_follow_start_frame_and_step_in_a_video_file(
    tmp_path: Path, media_dir: Path
) -> None:
    text = (DATA / "cvat_video" / "annotations.xml").read_text()
    text = text.replace("<start_frame>0</start_frame>", "<start_frame>10</start_frame>")
    text = text.replace("<frame_filter></frame_filter>", "<frame_filter>step=3</frame_filter>")
    text = text.replace("<width>64</width><height>48</height>", "<width>960</width><height>540</height>")
    text = text.replace("</task>", "<source>bedroom.mp4</source></task>")
    (tmp_path / "annotations.xml").write_text(text)
    project, _ = _imported("cvat", tmp_path / "annotations.xml", media_dir)
    car, person, dog = project.objects
    assert sorted(car.frames) == [10, 13, 16, 19, 22]
    assert sorted(person.frames) == [13, 16, 22, 25]
    assert sorted(dog.frames) == [16]


def test_the_cli_finds_images_inside_the_dataset_without_images_option(tmp_path: Path) -> None:
    shutil.copytree(DATA / "supervision_roboflow", tmp_path / "rf")
    project_file = tmp_path / "p.samdesk.json"
    assert (
        main(
            [
                "import",
                str(tmp_path / "rf"),
                "--format",
                "yolo-seg",
                "--project",
                str(project_file),
                "--quiet",
            ]
        )
        == 0
    )
    assert len(load_project(project_file).project.objects) == 2


# --- VOC / CVAT segmentation mask ---------------------------------------------------------------------


def test_voc_segmentation_written_by_datumaro() -> None:
    """RGB class and instance PNGs, a label map without colours (VOC's colours by index): every
    instance with the class of its pixels. datumaro writes its masks only (not its polygons or
    boxes) into a VOC segmentation."""
    project, result = _imported("voc", DATA / "datumaro_voc")
    assert _contents(project) == _expected("datumaro_voc", kinds=("rle",), sources=("mask",))
    assert not result.warnings


def _palette_png(path: Path, labels: np.ndarray, palette: list[tuple[int, int, int]] | None = None) -> None:
    from PIL import Image

    from samdesk.io.video_masks import davis_palette

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette([c for rgb in (palette or davis_palette()) for c in rgb])
    image.save(path)


def test_cvat_segmentation_mask_palette_pngs_colours_void_and_class_only(tmp_path: Path) -> None:
    """CVAT's "Segmentation mask 1.1": labelmap colours of its own; 255 is VOC's void border;
    an image without SegmentationObject gives one object per class."""
    from PIL import Image

    root = tmp_path / "seg"
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "default.txt").write_text("a\nb\n")
    (root / "labelmap.txt").write_text(
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:250,50,83::\nsky:51,221,255::\n"
    )
    instances = np.zeros((48, 64), np.uint8)
    instances[4:16, 4:20] = 1
    instances[20:30, 30:50] = 2
    instances[16, 4:20] = 255  # void border
    classes = np.where(instances == 255, 255, np.where(instances > 0, 1, 0)).astype(np.uint8)
    classes[20:22, 30:50] = 2  # instance 2 is mostly car: its class is car
    _palette_png(root / "SegmentationObject" / "a.png", instances)
    colors = np.array(
        [(0, 0, 0), (250, 50, 83), (51, 221, 255)] + [(0, 0, 0)] * 252 + [(224, 224, 192)], np.uint8
    )
    (root / "SegmentationClass").mkdir()
    Image.fromarray(colors[classes]).save(root / "SegmentationClass" / "a.png")  # RGB, as CVAT writes
    sky = np.zeros((60, 80), np.uint8)
    sky[:10] = 2
    Image.fromarray(colors[sky]).save(root / "SegmentationClass" / "b.png")
    project, result = _imported("voc", root)
    assert [c.name for c in project.categories] == ["car", "sky"]
    a, b = project.media
    first, second = project.objects_of(a.id)
    assert [project.category(o.category_id).name for o in (first, second)] == ["car", "car"]
    assert np.array_equal(masks.decode(first.frames[0].rle), instances == 1)
    assert np.array_equal(masks.decode(second.frames[0].rle), instances == 2)
    (only,) = project.objects_of(b.id)
    assert project.category(only.category_id).name == "sky" and masks.area(only.frames[0].rle) == 800
    assert set(result.warnings.counts) == {"no instance masks (SegmentationObject): one object per class"}


# --- SA-1B, YouTube-VIS ------------------------------------------------------------------------------


def test_sa1b_written_by_datumaro() -> None:
    """One JSON per image beside it, RLE masks, no categories; boxes are not in SA-1B."""
    project, result = _imported("sa1b", DATA / "datumaro_sa1b", DATA / "no such folder")
    got = {k: sorted(counts for _, _, counts in v) for k, v in _contents(project).items()}
    expected = _expected("datumaro_sa1b", kinds=("rle",))
    assert got == {k: sorted(counts for _, _, counts in v) for k, v in expected.items()}
    assert not project.categories and not result.warnings


def test_sa1b_keeps_the_predicted_iou_and_the_click(tmp_path: Path) -> None:
    data = json.loads((DATA / "datumaro_sa1b" / "a.json").read_text())
    data["annotations"][0].update(predicted_iou=0.93, point_coords=[[10.5, 8.0]])
    data["annotations"][1].update(predicted_iou=float("nan"), point_coords=[[1e9, 2]])
    shutil.copy(DATA / "images" / "a.png", tmp_path / "a.png")
    (tmp_path / "a.json").write_text(json.dumps(data))
    project, _ = _imported("sa1b", tmp_path / "a.json", tmp_path)
    first, second = project.objects[:2]
    assert first.frames[0].score == 0.93 and first.frames[0].prompts.points == ((10.5, 8.0),)
    assert second.frames[0].score is None and not second.frames[0].prompts.points


@pytest.mark.parametrize(("fmt", "kind"), [("labelme", "labelme .json"), ("sa1b", "SA-1B .json")])
def test_json_per_image_formats_read_a_file_or_a_folder_tree_and_say_when_there_is_none(
    tmp_path: Path, fmt: str, kind: str
) -> None:
    source = DATA / ("labelme" if fmt == "labelme" else "datumaro_sa1b")
    nested = tmp_path / "dataset" / "part" / "more"
    shutil.copytree(source, nested)
    for file in nested.glob("*.json"):  # any case of the suffix, at any depth
        file.rename(file.with_suffix(".JSON"))
    whole, _ = _imported(fmt, tmp_path / "dataset", DATA / "images")
    direct, _ = _imported(fmt, source, DATA / "images")
    assert _contents(whole) == _contents(direct) and whole.objects
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    with pytest.raises(DatasetError, match=re.escape(f"{empty}: no {kind} files in this folder")):
        _imported(fmt, empty)
    with pytest.raises(DatasetError, match=re.escape(f"{tmp_path / 'gone'}: no such file or folder")):
        _imported(fmt, tmp_path / "gone")


def test_youtube_vis_official_layout_polygons_uncompressed_rle_and_scores(tmp_path: Path) -> None:
    """train/JPEGImages/<video>/*.jpg beside the JSON, frames every 5th; segmentations as
    compressed RLE, uncompressed RLE, polygons and null; a results file's score per track."""
    from PIL import Image
    from pycocotools import mask as mask_utils

    root = tmp_path / "train"
    for f in (0, 5, 10):
        (root / "JPEGImages" / "vid1").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((48, 64, 3), f, np.uint8)).save(root / "JPEGImages" / "vid1" / f"{f:05d}.jpg")
    square = np.zeros((48, 64), bool)
    square[10:20, 10:30] = True
    compressed = mask_utils.encode(np.asfortranarray(square.astype(np.uint8)))
    flat = np.asfortranarray(square).ravel(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    data = {
        "videos": [{"id": 3, "width": 64, "height": 48, "length": 3,
                    "file_names": ["vid1/00000.jpg", "vid1/00005.jpg", "vid1/00010.jpg"]}],
        "categories": [{"id": 7, "name": "person"}],
        "annotations": [
            {"id": 1, "video_id": 3, "category_id": 7, "score": 0.8, "segmentations": [
                {"size": [48, 64], "counts": compressed["counts"].decode()},
                {"size": [48, 64], "counts": runs},
                None,
            ]},
            {"id": 2, "video_id": 3, "category_id": 7,
             "segmentations": [None, None, [[40, 30, 60, 30, 60, 44, 40, 44]]]},
        ],
    }  # fmt: skip
    (root / "instances.json").write_text(json.dumps(data))
    project, result = _imported("ytvis", root, tmp_path / "no videos")
    (video,) = project.media
    assert Path(video.path) == root / "JPEGImages" / "vid1" and video.frame_count == 3
    first, second = project.objects
    assert sorted(first.frames) == [0, 1] and first.frames[0].score == 0.8
    assert all(np.array_equal(masks.decode(first.frames[f].rle), square) for f in (0, 1))
    assert sorted(second.frames) == [2] and masks.area(second.frames[2].rle) == 20 * 14
    assert not result.warnings
