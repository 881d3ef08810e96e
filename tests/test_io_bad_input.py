"""Broken datasets: each gives a clear error or a counted warning, and the project never changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samdesk.document import Document
from samdesk.document.persistence import save_project
from samdesk.io.coco import import_coco
from samdesk.io.common import DatasetError
from samdesk.io.sequences import import_davis
from samdesk.io.yolo_import import import_yolo
from tests.io_fixtures import make_project

DOG = {"id": 1, "file_name": "dog.jpg", "width": 800, "height": 534}
SQUARE = [[100, 100, 200, 100, 200, 200, 100, 200]]


def _coco(tmp_path: Path, images=None, annotations=None, categories=None) -> Path:
    data = {
        "images": [DOG] if images is None else images,
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "segmentation": SQUARE}]
        if annotations is None
        else annotations,
        "categories": [{"id": 3, "name": "dog"}] if categories is None else categories,
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def document(media_dir: Path) -> Document:
    return Document(make_project(media_dir, with_video=False))


def _unchanged(document: Document, before) -> bool:
    return document.project == before and not document.history.can_undo


def _fails(document: Document, path: Path, images: Path, match: str) -> None:
    before = document.project.clone()
    with pytest.raises(DatasetError, match=match) as info:
        import_coco(document.project, path, images)
    # The message names the file at fault: the dataset file or the image it points at.
    assert path.name in str(info.value) or "dog.jpg" in str(info.value)
    assert _unchanged(document, before)


def _warns(document: Document, path: Path, images: Path, kind: str, objects: int) -> None:
    before = document.project.clone()
    result = import_coco(document.project, path, images)
    assert document.project == before  # planning an import changes nothing
    assert any(kind in k for k in result.warnings.counts), result.warnings.counts
    assert result.objects_added == objects
    document.execute(result.command)
    document.undo()
    assert (document.project.categories, document.project.media, document.project.objects) == (
        before.categories,
        before.media,
        before.objects,
    )


def test_malformed_json(document: Document, media_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"images": [')
    _fails(document, path, media_dir, "not valid JSON")
    path.write_text("[1, 2]")
    _fails(document, path, media_dir, "expected a JSON object")
    path.write_text('{"images": {}, "annotations": [], "categories": []}')
    _fails(document, path, media_dir, "'images' is missing or not a list")
    _fails(document, tmp_path / "nope.json", media_dir, "file not found")


def test_malformed_entries(document: Document, media_dir: Path, tmp_path: Path) -> None:
    _fails(
        document, _coco(tmp_path, images=[{"id": 1, "file_name": "dog.jpg"}]), media_dir, "width and height"
    )
    _fails(document, _coco(tmp_path, images=[DOG, DOG]), media_dir, "appears twice")
    _fails(document, _coco(tmp_path, categories=[{"id": "x", "name": "dog"}]), media_dir, "integer id")
    _fails(document, _coco(tmp_path, annotations=[{"id": 1}]), media_dir, "no integer image_id")


def test_missing_image_is_a_counted_warning(document: Document, media_dir: Path, tmp_path: Path) -> None:
    images = [DOG, {"id": 2, "file_name": "gone.jpg", "width": 10, "height": 10}]
    annotations = [{"id": i, "image_id": i, "category_id": 3, "segmentation": SQUARE} for i in (1, 2)]
    _warns(document, _coco(tmp_path, images, annotations), media_dir, "image file missing", 1)


def test_wrong_image_size_is_an_error(document: Document, media_dir: Path, tmp_path: Path) -> None:
    path = _coco(tmp_path, images=[{**DOG, "width": 640}])
    _fails(document, path, media_dir, r"dog.jpg is declared 640×534 but the file is 800×534")


def test_image_size_conflicting_with_the_project_is_an_error(media_dir: Path, tmp_path: Path) -> None:
    document = Document(make_project(media_dir, with_video=False))
    document.project.media[1].width = 801  # the project believes dog.jpg is another size
    _fails(document, _coco(tmp_path), media_dir, "the project has it as 801×534")


def test_huge_declared_image_is_refused_before_allocating(
    document: Document, media_dir: Path, tmp_path: Path
) -> None:
    path = _coco(tmp_path, images=[{**DOG, "width": 20000, "height": 20000}])
    _fails(document, path, media_dir, "20000×20000 is outside")


def test_out_of_range_polygon_is_clipped_with_a_warning(
    document: Document, media_dir: Path, tmp_path: Path
) -> None:
    annotations = [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 3,
            "segmentation": [[700, 400, 1500, 400, 1500, 1000, 700, 1000]],  # dog.jpg is 800×534
        }
    ]
    _warns(document, _coco(tmp_path, annotations=annotations), media_dir, "polygon outside its image", 1)


def test_far_outside_polygon_is_skipped_with_a_warning(
    document: Document, media_dir: Path, tmp_path: Path
) -> None:
    """More than an image size away is a broken file (and pycocotools' cost grows with the
    distance: 1e7 cost 856 MB), not a point a little past the border."""
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [[700, 400, 5000, 400, 5000, 3000]]},
        {"id": 2, "image_id": 1, "category_id": 3, "segmentation": SQUARE},
    ]
    _warns(document, _coco(tmp_path, annotations=annotations), media_dir, "outside its image; skipped", 1)


def test_polygon_with_a_huge_outline_is_skipped(document: Document, media_dir: Path, tmp_path: Path) -> None:
    """Many vertices zig-zagging across the image: each edge is in range, the total is not."""
    zigzag = [v for i in range(2000) for v in (0, i % 534, 800, (i + 1) % 534)]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [zigzag]},
        {"id": 2, "image_id": 1, "category_id": 3, "segmentation": SQUARE},
    ]
    _warns(document, _coco(tmp_path, annotations=annotations), media_dir, "outline longer than", 1)


def test_unknown_category_id_is_a_counted_warning(
    document: Document, media_dir: Path, tmp_path: Path
) -> None:
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 99, "segmentation": SQUARE},
        {"id": 2, "image_id": 1, "category_id": 3, "segmentation": SQUARE},
    ]
    _warns(document, _coco(tmp_path, annotations=annotations), media_dir, "unknown category id", 1)


def test_unknown_image_id_is_a_counted_warning(document: Document, media_dir: Path, tmp_path: Path) -> None:
    annotations = [
        {"id": 1, "image_id": 9, "category_id": 3, "segmentation": SQUARE},
        {"id": 2, "image_id": 1, "category_id": 3, "segmentation": SQUARE},
    ]
    _warns(document, _coco(tmp_path, annotations=annotations), media_dir, "unknown image id", 1)


@pytest.mark.parametrize(
    ("segmentation", "kind"),
    [
        ([[10, 10, 10, 10, 10, 10]], "empty mask"),  # a degenerate polygon covers nothing
        ({"size": [534, 800], "counts": [534 * 800]}, "empty mask"),
        ([], "without segmentation"),
        ({"size": [10, 10], "counts": "PP"}, "RLE size differs"),
        ({"size": [534, 800], "counts": "\u00e9not rle"}, "malformed compressed RLE"),
        ({"size": [534, 800], "counts": [1, 2, 3]}, "malformed uncompressed RLE"),
        ([[1, 2, "x", 4, 5, 6]], "malformed polygon"),
        ([[1, 2, True, 4, 5, 6]], "malformed polygon"),
        ([[1, 2, 10**400, 4, 5, 6]], "malformed polygon"),  # valid JSON, too large for a float
        ([[1, 2, float("nan"), 4, 5, 6]], "NaN or infinite"),
    ],
)
def test_unusable_masks_are_counted(
    document: Document, media_dir: Path, tmp_path: Path, segmentation, kind: str
) -> None:
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 3, "segmentation": segmentation},
        {"id": 2, "image_id": 1, "category_id": 3, "segmentation": SQUARE},
    ]
    _warns(document, _coco(tmp_path, annotations=annotations), media_dir, kind, 1)


def test_unreadable_image_is_an_error(document: Document, tmp_path: Path) -> None:
    (tmp_path / "dog.jpg").write_bytes(b"not a jpeg")
    _fails(document, _coco(tmp_path), tmp_path, "dog.jpg: not an image file")


def test_cancelled_import_changes_nothing(document: Document, media_dir: Path, tmp_path: Path) -> None:
    from samdesk.io.common import Cancelled

    before = document.project.clone()
    with pytest.raises(Cancelled):
        import_coco(document.project, _coco(tmp_path), media_dir, cancel=lambda: True)
    assert _unchanged(document, before)


# --- found by tests/hostile: each of these escaped as a traceback ----------------------------------


def test_deeply_nested_or_huge_number_json_is_a_clear_error(document: Document, tmp_path: Path) -> None:
    path = tmp_path / "nested.json"
    path.write_text("[" * 100_000)  # RecursionError inside json
    _fails(document, path, tmp_path, "nested too deeply")
    path.write_text("[" + "9" * 5000 + "]")  # ValueError: more digits than int() converts
    _fails(document, path, tmp_path, "not valid JSON")


def test_unusable_category_id_and_score_are_counted(
    document: Document, media_dir: Path, tmp_path: Path
) -> None:
    annotations = [
        {"id": 1, "image_id": 1, "category_id": [3], "segmentation": SQUARE},  # unhashable
        {"id": 2, "image_id": 1, "category_id": 3, "segmentation": SQUARE, "score": 10**400},
    ]
    path = _coco(tmp_path, annotations=annotations)
    _warns(document, path, media_dir, "unknown category id", 1)
    (obj,) = [o for o in import_coco(document.project, path, media_dir).command.commands if hasattr(o, "obj")]
    assert obj.obj.frames[0].score is None  # too large for a float: unknown, not a crash


def test_name_that_is_not_unicode_is_replaced_with_a_warning(
    document: Document, media_dir: Path, tmp_path: Path
) -> None:
    path = _coco(tmp_path, categories=[{"id": 3, "name": "dog\ud800"}])  # JSON "\ud800": a lone surrogate
    result = import_coco(document.project, path, media_dir)
    assert any("not valid Unicode" in k for k in result.warnings.counts)
    document.execute(result.command)
    assert document.project.categories[-1].name == "dog\ufffd"
    save_project(document.project, tmp_path / "p.samdesk.json")  # it can be saved


def test_yolo_files_that_are_not_utf8_are_a_clear_error(document: Document, tmp_path: Path) -> None:
    from tests.hostile import datasets

    for label, yaml in ((b"\x80 0.1", "names: [thing]\n"), (None, b"names: [\xff]\n")):
        source, images = datasets.yolo(tmp_path / str(len(str(label))), label, yaml_text=yaml)
        with pytest.raises(DatasetError, match="not a UTF-8 text file"):
            import_yolo(document.project, source, images)


def test_davis_png_named_with_non_ascii_digits_is_skipped(tmp_path: Path) -> None:
    from tests.hostile import datasets

    source, images = datasets.davis(
        tmp_path, {"²³.png": datasets.square_labels(), "00001.png": datasets.square_labels()}
    )
    result = import_davis(Document().project, source, images)
    assert any("not a frame number" in k for k in result.warnings.counts)
    assert result.objects_added == 1
