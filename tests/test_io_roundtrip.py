"""Every format samdesk both writes and reads: export -> import gives the project back.

Lossless formats give every mask back pixel for pixel; polygon formats within IoU 0.98, but for
an object the exporter itself lists as held approximately (YOLO-seg's one line joining the parts
of a two-part object). What a format cannot hold is left out on both sides: objects without a
category in category formats, images in video formats, videos in image formats.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from samdesk.document import Document, masks
from samdesk.document.model import MediaKind, Project
from samdesk.io.formats import IMPORT_FORMATS, run_export
from tests.io_fixtures import make_project


def _objects(project: Project, kind: MediaKind, need_category: bool) -> dict[str, list[tuple]]:
    """Per media file name: (category name, {frame: mask}) in drawing order."""
    names = {c.id: c.name for c in project.categories}
    out: dict[str, list[tuple]] = {}
    for item in project.media:
        if item.kind != kind:
            continue
        entries = out.setdefault(Path(item.path).name, [])
        for obj in project.objects_of(item.id):
            if need_category and obj.category_id is None:
                continue
            frames = {f: masks.decode(a.rle) for f, a in sorted(obj.frames.items())}
            entries.append((names.get(obj.category_id), frames))
    return out


def _round_trip(
    fmt: str, import_fmt: str, out: Path, media_dir: Path, project: Project, **options
) -> Project:
    """Export ``project`` into ``out`` and import it into a new project. An object the exporter
    lists as an approximation (below its own IoU bar, said to the user) is taken out of both."""
    exported = run_export(fmt, project, out, images_root=media_dir, **options)
    listed = {int(line.split("#")[1].split(":")[0]) for line in exported.approximations}
    assert len(listed) <= 1, exported.approximations  # make_project's two-part object at most
    document = Document()
    result = IMPORT_FORMATS[import_fmt](document.project, out, media_dir)
    document.execute(result.command)
    imported = document.project
    for object_id in listed:  # at the same drawing-order position in both projects
        obj = project.object(object_id)
        position = [o.id for o in project.objects_of(obj.media_id)].index(object_id)
        path = str(Path(project.media_item(obj.media_id).path).resolve())
        media = next(m for m in imported.media if m.path == path)
        imported.objects.remove(imported.objects_of(media.id)[position])
        project.objects.remove(obj)
    return imported


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def _assert_same(before: dict, after: dict, min_iou: float | None) -> None:
    assert before.keys() == after.keys()
    for name in before:
        assert [c for c, _ in before[name]] == [c for c, _ in after[name]], name
        for (_, frames_a), (_, frames_b) in zip(before[name], after[name], strict=True):
            assert frames_a.keys() == frames_b.keys(), name
            for f in frames_a:
                if min_iou is None:
                    assert np.array_equal(frames_a[f], frames_b[f]), (name, f)
                else:
                    assert _iou(frames_a[f], frames_b[f]) >= min_iou, (
                        name,
                        f,
                        _iou(frames_a[f], frames_b[f]),
                    )


@pytest.mark.parametrize(
    ("fmt", "import_fmt", "kind", "need_category", "min_iou"),
    [
        ("coco", "coco", MediaKind.IMAGE, True, None),
        ("coco-polygon", "coco", MediaKind.IMAGE, True, 0.98),
        ("png-instance", "png-instance", MediaKind.IMAGE, False, None),
        ("yolo-seg", "yolo-seg", MediaKind.IMAGE, True, 0.98),
        ("davis", "davis", MediaKind.VIDEO, False, None),
        ("ytvos", "ytvos", MediaKind.VIDEO, False, None),
        ("ytvis", "ytvis", MediaKind.VIDEO, True, None),
    ],
)
def test_export_then_import_gives_the_objects_back(
    media_dir: Path, tmp_path: Path, fmt: str, import_fmt: str, kind: MediaKind, need_category: bool, min_iou
) -> None:
    project = make_project(media_dir)
    options = {"resolution": "Full-Resolution"} if fmt == "davis" else {}
    out = tmp_path / ("export.json" if fmt.startswith("coco") else "export")
    imported = _round_trip(fmt, import_fmt, out, media_dir, project, **options)
    _assert_same(_objects(project, kind, need_category), _objects(imported, kind, need_category), min_iou)
    if kind == MediaKind.VIDEO:  # the masks went back onto the video itself, not its exported frames
        (video,) = imported.media
        assert video.path == str((media_dir / "bedroom.mp4").resolve()) and video.frame_count == 200


def test_png_semantic_gives_each_category_back_as_one_object(media_dir: Path, tmp_path: Path) -> None:
    """A semantic mask knows categories, not instances: each category present on a medium comes
    back as one object, the union of its objects (later objects painted over earlier ones)."""
    project = make_project(media_dir)
    imported = _round_trip("png-semantic", "png-semantic", tmp_path / "sem", media_dir, project)
    names = {c.id: c.name for c in project.categories}
    for item in project.media:
        expected: dict[str, dict[int, np.ndarray]] = {}
        for obj in project.objects_of(item.id):
            if obj.category_id is None:
                continue
            for f, a in obj.frames.items():
                mask = masks.decode(a.rle)
                for other in expected.values():  # the later object wins where two overlap
                    if f in other:
                        other[f] &= ~mask
                union = expected.setdefault(names[obj.category_id], {})
                union[f] = union.get(f, np.zeros_like(mask)) | mask
        (match,) = [m for m in imported.media if m.path == str(Path(item.path).resolve())]
        got = {
            imported.category(o.category_id).name: {f: masks.decode(a.rle) for f, a in o.frames.items()}
            for o in imported.objects_of(match.id)
        }
        expected = {k: {f: m for f, m in v.items() if m.any()} for k, v in expected.items()}
        assert got.keys() == {k for k, v in expected.items() if v}
        for name, frames in got.items():
            assert frames.keys() == expected[name].keys()
            for f in frames:
                assert np.array_equal(frames[f], expected[name][f]), (item.path, name, f)


@pytest.mark.parametrize("fmt", ["davis", "ytvos", "ytvis"])
def test_video_exports_read_back_onto_their_own_jpeg_frames(
    media_dir: Path, tmp_path: Path, fmt: str
) -> None:
    """Without the original video, the export's JPEG frame folder is the video: the masks come
    back on frames 0, 1, ... of that folder, in the order of the exported frame numbers."""
    project = make_project(media_dir)
    options = {"resolution": "Full-Resolution"} if fmt == "davis" else {}
    run_export(fmt, project, tmp_path / "export", images_root=media_dir, **options)
    document = Document()
    result = IMPORT_FORMATS[fmt](document.project, tmp_path / "export", tmp_path / "no videos here")
    document.execute(result.command)
    (video,) = document.project.media
    assert Path(video.path).is_dir() and video.kind == MediaKind.VIDEO
    exported = sorted({f for o in project.objects_of(4) for f in o.frames} | {0, 1, 2})  # + the done frames
    assert video.frame_count == len(exported)
    before = [o for o in project.objects_of(4) if fmt != "ytvis" or o.category_id is not None]
    after = document.project.objects_of(video.id)
    assert len(after) == len(before)
    for a, b in zip(before, after, strict=True):
        assert sorted(b.frames) == [exported.index(f) for f in sorted(a.frames)]
        for f, annotation in a.frames.items():
            assert np.array_equal(masks.decode(annotation.rle), masks.decode(b.frames[exported.index(f)].rle))


def test_davis_480p_goes_onto_its_own_frames_even_beside_the_full_size_video(
    media_dir: Path, tmp_path: Path
) -> None:
    """The masks are 480 px high: the 960×540 video under --images is not theirs, the export's
    480p JPEG frames are."""
    from PIL import Image

    project = make_project(media_dir)
    run_export("davis", project, tmp_path / "export", images_root=media_dir)
    document = Document()
    result = IMPORT_FORMATS["davis"](document.project, tmp_path / "export", media_dir)
    document.execute(result.command)
    (video,) = document.project.media
    assert Path(video.path) == tmp_path / "export" / "JPEGImages" / "480p" / "bedroom"
    assert (video.width, video.height) == (854, 480)
    first = document.project.objects_of(video.id)[0]
    with Image.open(tmp_path / "export" / "Annotations" / "480p" / "bedroom" / "00003.png") as png:
        assert np.array_equal(masks.decode(first.frames[3].rle), np.asarray(png) == 1)
