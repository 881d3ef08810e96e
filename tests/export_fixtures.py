"""Small synthetic projects for the export tests: what annotators' masks really look like, at sizes
that keep the tests fast.

- :func:`noisy_images`: two 320×240 photos whose objects have what model masks have: specks
  around the object, small holes, a ring, parts, a one-pixel line, a two-pixel object.
- :func:`short_clip` and :func:`clip_project`: a 30-frame 160×90 video annotated on frames 0–9
  only, as after tracking a few frames of a longer video.
"""

from __future__ import annotations

from fractions import Fraction
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
    Project,
    Provenance,
)

PHOTO_SIZE = (320, 240)  # (width, height) of both photos
CLIP_SIZE = (160, 90)
CLIP_FRAMES = 30
CLIP_ANNOTATED = range(10)  # frames 0-9 have masks; 10-29 nobody looked at

# Specks of object 1 in noisy_images: 10 single pixels and 3 two-pixel islands, all under the
# default minimum part area; plus one 20-pixel island, which is a real part.
SPECKS = [(130 + 4 * i, 20) for i in range(10)] + [(130 + 4 * i, 110) for i in range(3)]
SMALL_HOLES = 2  # object 4 has a 1-pixel and a 2×2 hole


def write_photo(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A textured RGB photo (gradient plus noise) at ``path`` (.jpg or .png)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, width)[None, :, None]
    y = np.linspace(0, 255, height)[:, None, None]
    image = (0.5 * x + 0.3 * y + rng.integers(0, 60, (height, width, 3))).clip(0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


def _blank() -> np.ndarray:
    return np.zeros((PHOTO_SIZE[1], PHOTO_SIZE[0]), np.uint8)


def _frame(mask: np.ndarray) -> dict[int, FrameAnnotation]:
    return {0: FrameAnnotation(masks.encode(mask.astype(bool)), Provenance.MODEL)}


def photo_masks(specks: bool = True) -> dict[str, list[tuple[int | None, np.ndarray]]]:
    """Image name -> (category id, mask) per object, in drawing order; ``specks=False``: without
    the specks (islands and holes under 16 px), as a YOLO line holds them."""
    specky = _blank()
    cv2.ellipse(specky, (80, 70), (40, 25), 0, 0, 360, 1, -1)
    for x, y in SPECKS[:10] if specks else []:
        specky[y, x] = 1
    for x, y in SPECKS[10:] if specks else []:
        specky[y, x : x + 2] = 1
    specky[100:104, 20:25] = 1  # a 20-pixel part: kept and joined
    parts = _blank()
    cv2.circle(parts, (60, 170), 18, 1, -1)
    parts[160:186, 100:131] = 1
    ring = _blank()
    cv2.circle(ring, (230, 160), 35, 1, -1)
    cv2.circle(ring, (230, 160), 14, 0, -1)
    holes = _blank()
    cv2.ellipse(holes, (250, 60), (40, 22), 0, 0, 360, 1, -1)
    if specks:
        holes[60, 240] = 0
        holes[55:57, 260:262] = 0
    line = _blank()
    cv2.line(line, (10, 230), (150, 200), 1, 1)
    tiny = _blank()
    tiny[230, 300:302] = 1
    corner = _blank()
    corner[0:31, 0:16] = 1
    far = _blank()
    cv2.circle(far, (30, 30), 12, 1, -1)
    cv2.circle(far, (290, 210), 12, 1, -1)
    plain = _blank()
    cv2.ellipse(plain, (160, 120), (60, 40), 30, 0, 360, 1, -1)
    uncategorised = _blank()
    cv2.circle(uncategorised, (40, 200), 10, 1, -1)
    return {
        "street.jpg": [(1, specky), (2, parts), (1, ring), (2, holes), (1, line), (2, tiny), (1, corner)],
        "park.png": [(2, far), (1, plain), (None, uncategorised)],
    }


def noisy_images(folder: Path) -> Project:
    """Two photos in ``folder`` and a project whose ten objects (one uncategorised) are
    :func:`photo_masks`; categories "person" (1) and "car" (2)."""
    project = Project()
    project.categories = [Category(1, "person", (255, 0, 0)), Category(2, "car", (0, 0, 255))]
    width, height = PHOTO_SIZE
    object_id = 1
    for media_id, (name, objects) in enumerate(photo_masks().items(), start=1):
        path = write_photo(folder / name, width, height, seed=media_id)
        project.media.append(MediaItem(media_id, MediaKind.IMAGE, str(path), width, height))
        for category, mask in objects:
            project.objects.append(AnnotationObject(object_id, media_id, category, _frame(mask)))
            object_id += 1
    project.next_ids.update(category=3, media=len(project.media) + 1, object=object_id)
    return project


def short_clip(path: Path, frames: int = CLIP_FRAMES, size: tuple[int, int] = CLIP_SIZE) -> Path:
    """An MPEG-4 video of moving stripes: ``frames`` frames of ``size`` (width, height)."""
    import av

    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, 30)
        x = np.arange(width)[None, :]
        for i in range(frames):
            grey = ((x + 4 * i) % 40 * 6).astype(np.uint8)
            rgb = np.repeat(np.broadcast_to(grey, (height, width))[:, :, None], 3, axis=2)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def clip_masks(frame: int) -> list[np.ndarray | None]:
    """The two objects' masks on ``frame`` of the clip (None: no mask there). The ball is on
    frames 0-9, the box leaves after frame 5 (truly gone on 6-9)."""
    width, height = CLIP_SIZE
    if frame not in CLIP_ANNOTATED:
        return [None, None]
    ball = np.zeros((height, width), np.uint8)
    cv2.circle(ball, (30 + 6 * frame, 45), 14, 1, -1)
    box = None
    if frame <= 5:
        box = np.zeros((height, width), np.uint8)
        box[10:40, 100 + 2 * frame : 130 + 2 * frame] = 1
    return [ball.astype(bool), None if box is None else box.astype(bool)]


def clip_project(folder: Path) -> Project:
    """``folder/clip.mp4`` (:func:`short_clip`) with a ball ("person") and a box ("car") tracked
    on frames 0-9 of its 30."""
    path = short_clip(folder / "clip.mp4")
    width, height = CLIP_SIZE
    project = Project()
    project.categories = [Category(1, "person", (255, 0, 0)), Category(2, "car", (0, 0, 255))]
    project.media.append(
        MediaItem(1, MediaKind.VIDEO, str(path), width, height, frame_count=CLIP_FRAMES, fps=30.0)
    )
    tracks: list[dict[int, FrameAnnotation]] = [{}, {}]
    for frame in range(CLIP_FRAMES):
        for track, mask in zip(tracks, clip_masks(frame), strict=True):
            if mask is not None:
                track[frame] = FrameAnnotation(masks.encode(mask), Provenance.PROPAGATED)
    project.objects = [AnnotationObject(1, 1, 1, tracks[0]), AnnotationObject(2, 1, 2, tracks[1])]
    project.next_ids.update(category=3, media=2, object=3)
    return project
