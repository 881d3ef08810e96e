"""Builders of realistic projects for the document, persistence and recovery tests (test-only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_runtime.api import Exemplar, Prompts
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
    TrackedFrom,
    TrackerAbsence,
)


def random_mask(rng: np.random.Generator, height: int, width: int, speckle: float = 0.01) -> np.ndarray:
    """A blob-like bool mask (H, W): a random ellipse plus speckles, so RLEs are non-trivial."""
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    ry, rx = rng.uniform(2, height / 2 + 2), rng.uniform(2, width / 2 + 2)
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    return mask ^ (rng.random((height, width)) < speckle)


def make_project(
    folder: Path,
    *,
    seed: int = 0,
    n_objects: int = 12,
    image_size: tuple[int, int] = (48, 64),
    speckle: float = 0.01,
    tracker_fields: bool = True,
) -> Project:
    """A project with one image and one video (files created under ``folder``), two categories and
    ``n_objects`` objects with masks, prompts of every kind, provenance, scores and model ids;
    with ``tracker_fields`` also what tracking records (presence logits, the keyframes tracked
    frames came from, absences), which files written before it lack."""
    rng = np.random.default_rng(seed)
    height, width = image_size
    folder.mkdir(parents=True, exist_ok=True)
    image_path = folder / "images" / "photo.jpg"
    video_path = folder / "clip.mp4"
    image_path.parent.mkdir(exist_ok=True)
    image_path.write_bytes(b"not really a jpeg " + bytes([seed % 256]))
    video_path.write_bytes(b"not really a video")
    project = Project(
        categories=[Category(1, "cup", (255, 0, 0)), Category(2, "plate ü", (0, 128, 255))],
        media=[
            MediaItem(1, MediaKind.IMAGE, str(image_path), width, height, content_hash="a" * 64,
                      status=MediaStatus.DONE, done_frames={0}),
            MediaItem(2, MediaKind.VIDEO, str(video_path), width, height, frame_count=9, fps=29.97,
                      content_hash="b" * 64, status=MediaStatus.IN_PROGRESS, done_frames={0, 3}),
        ],
        settings={"model": "sam2.1_hiera_t", "brush": {"size": 12}, "recent": [1, 2.5, None, True]},
    )
    provenances = list(Provenance)
    for i in range(n_objects):
        media = project.media[i % 2]
        frames = {}
        frame_ids = [0] if media.kind is MediaKind.IMAGE else sorted({0, int(rng.integers(0, 9)), 8})
        for f in frame_ids:
            prompts = Prompts()
            if i % 3 == 0:
                prompts = Prompts(
                    points=[(1.5, 2.25), (10.0, 20.0)], labels=[1, 0], box=(0.0, 1.0, 30.5, 40.0)
                )
            elif i % 3 == 1:
                exemplars = [Exemplar((1.0, 2.0, 3.0, 4.0), True), Exemplar((5.0, 6.0, 7.5, 8.0), False)]
                prompts = Prompts(exemplars=exemplars, text="red cup")
            provenance = provenances[(i + f) % len(provenances)]
            tracked = provenance is Provenance.PROPAGATED and tracker_fields
            frames[f] = FrameAnnotation(
                rle=masks.encode(random_mask(rng, height, width, speckle)),
                provenance=provenance,
                score=None if i % 4 == 0 else float(rng.uniform()),
                prompts=prompts,
                model_id=None if i % 5 == 0 else "sam2.1-hiera_t",
                object_score=float(rng.uniform(0.1, 9)) if tracked else None,
                tracked_from=TrackedFrom(0, "0123456789abcdef") if tracked and i % 2 else None,
            )
        absent = {}
        if media.kind is MediaKind.VIDEO and tracker_fields and i % 4 != 1:
            # What tracking found gone, on frames without a mask.
            source = TrackedFrom(0, "fedcba9876543210")
            absent = {
                f: TrackerAbsence(-float(f), source if f % 2 else None, "sam2.1-hiera_t")
                for f in range(1, 8) if f not in frames
            }
        project.objects.append(
            AnnotationObject(
                id=i + 1, media_id=media.id, category_id=[None, 1, 2][i % 3], frames=frames,
                name=f"object {i}", visible=i % 7 != 3, locked=i % 6 == 5, absent=absent,
            )
        )
    project.next_ids = {"category": 3, "media": 3, "object": n_objects + 1}
    return project
