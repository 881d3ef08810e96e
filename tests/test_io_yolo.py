"""YOLO-seg export (labels, data.yaml, image links) and import, including data.yaml name forms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samdesk.document import Document, masks
from samdesk.io.common import DatasetError
from samdesk.io.yolo import YoloExportOptions, data_yaml, export_yolo
from samdesk.io.yolo_import import import_yolo, read_names
from tests.io_fixtures import make_project


def test_export_writes_normalised_polygons_data_yaml_and_image_links(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    result = export_yolo(project, tmp_path, YoloExportOptions(images_root=media_dir))
    assert read_names(tmp_path / "data.yaml") == ["vehicle", "animal", "thing"]
    assert "train: images" in (tmp_path / "data.yaml").read_text()
    assert (tmp_path / "images/truck.jpg").resolve() == (media_dir / "truck.jpg").resolve()
    lines = (tmp_path / "labels/truck.txt").read_text().splitlines()
    assert len(lines) == 6  # 5 shapes + the ring (its hole cut in by a link)
    for line in lines:
        fields = line.split()
        assert 0 <= int(fields[0]) < 3
        values = [float(v) for v in fields[1:]]
        assert len(values) >= 6 and len(values) % 2 == 0 and min(values) >= 0 and max(values) <= 1
    assert len((tmp_path / "labels/dog.txt").read_text().splitlines()) == 6  # two-part object: one line
    assert result.warnings.counts["object in several parts: joined into one outline by lines"] == 1
    assert result.warnings.counts["object without a category skipped"] == 1


def test_export_import_keeps_masks_within_polygon_accuracy(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=False)
    # Keep what YOLO can hold: categorised, single-part, no holes.
    project.objects = [o for o in project.objects if o.category_id is not None and o.id <= 15]
    export_yolo(project, tmp_path, YoloExportOptions(images_root=media_dir))
    document = Document()
    result = import_yolo(document.project, tmp_path, tmp_path / "images")
    document.execute(result.command)
    assert not result.warnings
    assert [c.name for c in document.project.categories] == ["vehicle", "animal", "thing"]
    assert len(document.project.objects) == len(project.objects)
    # Label files are read in name order, so compare image by image.
    names = {c.id: c.name for c in project.categories}
    new_names = {c.id: c.name for c in document.project.categories}
    new_media = {Path(m.path).name: m.id for m in document.project.media}
    for media in project.media:
        after_objects = document.project.objects_of(new_media[Path(media.path).name])
        for before, after in zip(project.objects_of(media.id), after_objects, strict=True):
            a, b = masks.decode(before.frames[0].rle), masks.decode(after.frames[0].rle)
            iou = np.count_nonzero(a & b) / np.count_nonzero(a | b)
            assert iou >= 0.98, iou  # polygon accuracy; 6-decimal normalised coordinates flip no pixel
            assert names[before.category_id] == new_names[after.category_id]


def test_copy_instead_of_links(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=False)
    export_yolo(project, tmp_path, YoloExportOptions(images_root=media_dir, images="copy", media_ids={2}))
    assert not (tmp_path / "images/dog.jpg").is_symlink()
    assert (tmp_path / "images/dog.jpg").read_bytes() == (media_dir / "dog.jpg").read_bytes()


@pytest.mark.parametrize(
    "text",
    [
        "names: [cat, 'big dog', \"x, y\"]\n",
        "nc: 3\nnames:\n  - cat\n  - 'big dog'\n  - \"x, y\"\n",
        'names:\n  0: cat\n  1: big dog  # comment\n  2: "x, y"\ntrain: images\n',
    ],
)
def test_read_names_forms(tmp_path: Path, text: str) -> None:
    path = tmp_path / "data.yaml"
    path.write_text(text)
    assert read_names(path) == ["cat", "big dog", "x, y"]


def test_data_yaml_round_trips_awkward_names(tmp_path: Path) -> None:
    path = tmp_path / "data.yaml"
    names = ['quote"d', "colon: yes", "ünïcode", "#hash"]
    path.write_text(data_yaml(tmp_path, names))
    assert read_names(path) == names


def test_bad_label_lines(media_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text("names: [a]\n")
    (tmp_path / "labels/dog.txt").write_text(
        "0 0.1 0.1 0.3 0.1 0.3 0.3\n"  # fine
        "5 0.1 0.1 0.3 0.1 0.3 0.3\n"  # unknown class
        "0 0.5 0.5 0.2 0.2\n"  # a detection box: a box-only object
        "0 0.5 0.5 1.7 0.5 1.7 1.9\n"  # outside the image: clipped
        "0 0.1 0.1 0.1\n"  # odd coordinates
    )
    document = Document()
    result = import_yolo(document.project, tmp_path, media_dir)
    assert result.objects_added == 3
    box = result.command.commands[-2].obj.frames[0]
    assert np.allclose(box.prompts.box, (320.0, 213.6, 480.0, 320.4)) and not masks.decode(box.rle).any()
    assert set(result.warnings.counts) == {
        "class id not in data.yaml names; line skipped",
        "polygon outside its image; clipped",
        "polygon with fewer than 3 points or an odd coordinate count skipped",
    }
    (tmp_path / "labels/dog.txt").write_text("0 a b c d e f\n")
    with pytest.raises(DatasetError, match="dog.txt: line 1"):
        import_yolo(document.project, tmp_path, media_dir)
    (tmp_path / "data.yaml").unlink()
    with pytest.raises(DatasetError, match="data.yaml"):
        import_yolo(document.project, tmp_path, media_dir)
    assert document.project.media == []


def test_missing_image_for_a_label_is_counted(tmp_path: Path) -> None:
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text("names: [a]\n")
    (tmp_path / "labels/ghost.txt").write_text("0 0.1 0.1 0.3 0.1 0.3 0.3\n")
    result = import_yolo(Document().project, tmp_path, tmp_path)
    assert result.warnings.counts == {"image for a label file missing; skipped": 1}
