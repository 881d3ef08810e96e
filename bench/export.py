"""Export speed: a synthetic project of 1,000 1080p images × 20 objects, timed per format.

    python bench/export.py                       # all image formats, median of 3 runs
    python bench/export.py --formats coco --repeats 5
    python bench/export.py --videos 4            # also davis / ytvis on 4 videos × 250 frames × 5 tracks

Masks are real-looking shapes (ellipses, rotated polygons, stars) drawn with OpenCV; a pool of
distinct masks is encoded once and shared between objects, so building the project takes seconds
while every export still decodes and writes every object. Goal: COCO RLE under a minute.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from samdesk.document import masks  # noqa: E402
from samdesk.document.model import (  # noqa: E402
    AnnotationObject,
    Category,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    Project,
    Provenance,
)
from samdesk.io.formats import BUILTIN_EXPORT_FORMATS, run_export  # noqa: E402

WIDTH, HEIGHT = 1920, 1080
IMAGE_FORMATS = ["coco", "coco-polygon", "png-instance", "png-semantic", "yolo-seg"]
VIDEO_FORMATS = ["davis", "ytvis"]


def shape_pool(count: int, seed: int = 0) -> list[FrameAnnotation]:
    """``count`` distinct 1080p masks: ellipses, convex polygons and stars of 40-300 px."""
    rng = np.random.default_rng(seed)
    pool = []
    for i in range(count):
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        cx, cy = int(rng.integers(300, WIDTH - 300)), int(rng.integers(300, HEIGHT - 300))
        size = int(rng.integers(40, 300))
        kind = i % 3
        if kind == 0:
            axes = (size, int(size * rng.uniform(0.4, 1.0)))
            cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:
            n = int(rng.integers(5, 12))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radii = size * (rng.uniform(0.5, 1.0, n) if kind == 1 else np.tile([1.0, 0.45], n)[:n])
            points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
            cv2.fillPoly(mask, [points.astype(np.int32)], 1)
        pool.append(FrameAnnotation(masks.encode(mask.astype(bool)), Provenance.MODEL, score=0.9))
    return pool


def synthetic_project(images: int, objects: int, videos: int, root: Path) -> Project:
    pool = shape_pool(200)
    rng = np.random.default_rng(1)
    project = Project(categories=[Category(i + 1, f"class{i}", (40 * i % 256, 90, 200)) for i in range(10)])
    next_object = 1
    for m in range(images):
        project.media.append(MediaItem(m + 1, MediaKind.IMAGE, str(root / f"img{m:05d}.jpg"), WIDTH, HEIGHT))
        for _ in range(objects):
            frame = pool[int(rng.integers(len(pool)))]
            project.objects.append(AnnotationObject(next_object, m + 1, int(rng.integers(1, 11)), {0: frame}))
            next_object += 1
    for v in range(videos):
        media_id = images + v + 1
        project.media.append(
            MediaItem(
                media_id,
                MediaKind.VIDEO,
                str(root / f"vid{v:02d}.mp4"),
                WIDTH,
                HEIGHT,
                frame_count=250,
                fps=30.0,
            )
        )
        for _ in range(5):
            frames = {f: pool[int(rng.integers(len(pool)))] for f in range(250)}
            project.objects.append(AnnotationObject(next_object, media_id, int(rng.integers(1, 11)), frames))
            next_object += 1
    return project


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--videos", type=int, default=0)
    parser.add_argument("--formats", nargs="+", default=None, choices=list(BUILTIN_EXPORT_FORMATS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    formats = args.formats or (IMAGE_FORMATS + (VIDEO_FORMATS if args.videos else []))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        project = synthetic_project(args.images, args.objects, args.videos, root / "media")
        print(
            f"project: {args.images} images × {args.objects} objects at {WIDTH}x{HEIGHT}"
            f" + {args.videos} videos × 250 frames × 5 tracks (built in {time.perf_counter() - start:.1f} s)"
        )
        print(f"{'format':<14}{'median s':>10}{'min s':>9}{'ms/image':>10}  runs   (video formats: ms/frame)")
        for name in formats:
            image_only = name in IMAGE_FORMATS
            times = []
            for run in range(args.repeats):
                single_file = BUILTIN_EXPORT_FORMATS[name].single_file
                out = root / f"{name}-{run}" / ("out.json" if single_file else "out")
                out.parent.mkdir(parents=True)
                # Image formats export the images, video formats the videos: each is timed on its own.
                kinds = {MediaKind.IMAGE} if image_only else {MediaKind.VIDEO}
                options: dict[str, object] = {
                    "images_root": root / "media",
                    "media_ids": {m.id for m in project.media if m.kind in kinds},
                }
                if name == "yolo-seg":
                    options["images"] = "none"  # the synthetic images do not exist
                start = time.perf_counter()
                run_export(name, project, out, **options)
                times.append(time.perf_counter() - start)
            units = args.images if image_only else args.videos * 250
            median = statistics.median(times)
            print(
                f"{name:<14}{median:>10.2f}{min(times):>9.2f}{1000 * median / max(units, 1):>10.2f}  "
                f"{', '.join(f'{t:.2f}' for t in times)}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
