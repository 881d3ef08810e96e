"""Projects with real-looking masks on the shared test media, for the dataset I/O tests.

Shapes are drawn with OpenCV at the real media sizes: ellipses, rotated polygons, a ring (a hole),
a two-part object and a video track, so exporters meet what annotators produce.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from samdesk.document import masks
from samdesk.document.model import (
    AnnotationObject,
    Category,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    MediaStatus,
    Project,
    Provenance,
)

IMAGES = {"truck.jpg": (1800, 1200), "dog.jpg": (800, 534), "cars.jpg": (2250, 1500)}
VIDEO = ("bedroom.mp4", 960, 540, 200)


def ellipse(h: int, w: int, center: tuple[int, int], axes: tuple[int, int], angle: float = 0) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, center, axes, angle, 0, 360, 1, -1)
    return m.astype(bool)


def polygon(h: int, w: int, points: list[tuple[int, int]]) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.array(points, np.int32)], 1)
    return m.astype(bool)


def ring(h: int, w: int, center: tuple[int, int], outer: int, inner: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, center, outer, 1, -1)
    cv2.circle(m, center, inner, 0, -1)
    return m.astype(bool)


def two_parts(h: int, w: int, a: tuple[int, int], b: tuple[int, int], r: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, a, r, 1, -1)
    cv2.rectangle(m, (b[0] - r, b[1] - r // 2), (b[0] + r, b[1] + r // 2), 1, -1)
    return m.astype(bool)


def typical_shapes(h: int, w: int) -> dict[str, np.ndarray]:
    """Hole-free single-part shapes, apart from each other, at sizes objects have in photos."""
    star_center, outer, inner = (w // 5, h * 3 // 4), h // 6, h // 15
    angles = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    star = [
        (star_center[0] + int(r * np.cos(a)), star_center[1] + int(r * np.sin(a)))
        for a, r in zip(angles, [outer, inner] * 5, strict=True)
    ]
    x0, y0 = w * 6 // 10, h * 8 // 10
    return {
        "ellipse": ellipse(h, w, (w // 3, h // 3), (w // 8, h // 10), 25),
        "quad": polygon(
            h, w, [(w // 2, h // 10), (w * 9 // 10, h // 5), (w * 4 // 5, h // 2), (w // 2, h * 2 // 5)]
        ),
        "star": polygon(h, w, star),
        "small_circle": ellipse(h, w, (w - 120, h - 120), (40, 40)),
        "box": polygon(h, w, [(x0, y0), (x0 + 120, y0), (x0 + 120, y0 + 50), (x0, y0 + 50)]),
    }


def frame(mask: np.ndarray, score: float | None = None) -> FrameAnnotation:
    return FrameAnnotation(masks.encode(mask), Provenance.MODEL, score=score)


def make_project(media_dir: Path, with_video: bool = True) -> Project:
    """Three images (typical shapes, a ring, a two-part object, one uncategorised) and a video."""
    project = Project()
    project.categories = [
        Category(1, "vehicle", (255, 0, 0)),
        Category(2, "animal", (0, 255, 0)),
        Category(5, "thing", (0, 0, 255)),
    ]
    project.next_ids["category"] = 6
    next_object = 1

    def add(media_id: int, category: int | None, frames: dict[int, FrameAnnotation]) -> None:
        nonlocal next_object
        project.objects.append(AnnotationObject(next_object, media_id, category, frames))
        next_object += 1

    for media_id, (name, (w, h)) in enumerate(IMAGES.items(), start=1):
        project.media.append(MediaItem(media_id, MediaKind.IMAGE, str(media_dir / name), w, h))
        for i, mask in enumerate(typical_shapes(h, w).values()):
            add(media_id, [1, 2, 5][i % 3], {0: frame(mask, score=0.5 + 0.1 * i if i % 2 else None)})
    truck = project.media[0]
    truck.status = MediaStatus.DONE
    h, w = truck.height, truck.width
    add(1, 5, {0: frame(ring(h, w, (900, 700), 150, 60))})
    add(2, 2, {0: frame(two_parts(534, 800, (760, 40), (500, 380), 30))})
    add(3, None, {0: frame(ellipse(1500, 2250, (1100, 750), (90, 60)))})
    if with_video:
        name, w, h, count = VIDEO
        project.media.append(
            MediaItem(
                4,
                MediaKind.VIDEO,
                str(media_dir / name),
                w,
                h,
                frame_count=count,
                fps=30.0,
                done_frames={0, 1, 2},
            )
        )
        add(4, 2, {f: frame(ellipse(h, w, (200 + 20 * f, 250), (80, 50))) for f in range(5)})
        add(
            4,
            1,
            {
                f: frame(polygon(h, w, [(600, 100), (800, 120), (760, 300 + f * 10), (620, 280)]))
                for f in (2, 3)
            },
        )
    project.next_ids["media"] = len(project.media) + 1
    project.next_ids["object"] = next_object
    return project


def object_masks(project: Project) -> dict[tuple[str, int], list[np.ndarray]]:
    """(media file name, frame) -> that frame's masks in drawing order: what survives a round trip."""
    out: dict[tuple[str, int], list[np.ndarray]] = {}
    names = {m.id: Path(m.path).name for m in project.media}
    for obj in project.objects:
        for f, annotation in sorted(obj.frames.items()):
            out.setdefault((names[obj.media_id], f), []).append(masks.decode(annotation.rle))
    return out
