"""Small, valid datasets of every importable format, to be made hostile one field at a time.

Importable from a child process (tests/hostile/limits.py puts the repository on its path), so the
same builders serve the tests here and the fuzzing that runs under a memory limit.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 64, 48
VIDEO_FRAMES = 3
# A square well inside the image, in pixels and normalised (YOLO).
SQUARE = [10, 10, 30, 10, 30, 30, 10, 30]
SQUARE_YOLO = [round(v / (WIDTH if i % 2 == 0 else HEIGHT), 6) for i, v in enumerate(SQUARE)]


def write_image(folder: Path, name: str = "img.png") -> Path:
    """A WIDTH×HEIGHT RGB PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, WIDTH * HEIGHT * 3).astype(np.uint8).reshape(HEIGHT, WIDTH, 3)
    path = folder / name
    Image.fromarray(ramp).save(path)
    return path


def write_video(folder: Path, name: str = "clip.mp4") -> Path:
    """A WIDTH×HEIGHT MPEG-4 video of VIDEO_FRAMES frames."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.time_base = Fraction(1, 30)
        for i in range(VIDEO_FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((HEIGHT, WIDTH, 3), 60 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def square_labels(value: int = 1, dtype: type = np.uint8) -> np.ndarray:
    labels = np.zeros((HEIGHT, WIDTH), dtype)
    labels[10:30, 10:30] = value
    return labels


# --- one builder per import format: (source to import, images folder) ------------------------


def coco(folder: Path, annotations: list | None = None, *, data: object = None) -> tuple[Path, Path]:
    """COCO JSON over one image; ``data`` replaces the whole file's JSON when given."""
    images = folder / "images"
    write_image(images)
    if data is None:
        data = {
            "images": [{"id": 1, "file_name": "img.png", "width": WIDTH, "height": HEIGHT}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [SQUARE]}]
            if annotations is None
            else annotations,
            "categories": [{"id": 1, "name": "thing"}],
        }
    path = folder / "coco.json"
    path.write_text(json.dumps(data))
    return path, images


def yolo(
    folder: Path, label_text: str | bytes | None = None, *, yaml_text: str | bytes | None = None
) -> tuple[Path, Path]:
    """A YOLO-seg folder (data.yaml + labels/img.txt) over one image."""
    images = folder / "images"
    write_image(images)
    dataset = folder / "yolo"
    (dataset / "labels").mkdir(parents=True, exist_ok=True)
    yaml = "names: [thing]\n" if yaml_text is None else yaml_text
    label = "0 " + " ".join(str(v) for v in SQUARE_YOLO) + "\n" if label_text is None else label_text
    for target, content in ((dataset / "data.yaml", yaml), (dataset / "labels" / "img.txt", label)):
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return dataset, images


def png_instances(folder: Path, legend: object = None, labels: np.ndarray | None = None) -> tuple[Path, Path]:
    """An instance-PNG folder (legend.json + instances/img.png) over one image."""
    images = folder / "images"
    write_image(images)
    dataset = folder / "masks"
    (dataset / "instances").mkdir(parents=True, exist_ok=True)
    Image.fromarray(square_labels() if labels is None else labels).save(dataset / "instances" / "img.png")
    if legend is None:
        legend = {
            "format": "samdesk-masks",
            "version": 1,
            "kind": "instance",
            "categories": [{"id": 1, "name": "thing", "color": [255, 0, 0]}],
            "media": [
                {
                    "file_name": "img.png",
                    "kind": "image",
                    "width": WIDTH,
                    "height": HEIGHT,
                    "objects": [{"value": 1, "category_id": 1, "name": ""}],
                    "masks": [{"frame": 0, "file": "instances/img.png"}],
                }
            ],
        }
    (dataset / "legend.json").write_text(json.dumps(legend))
    return dataset, images


def davis(
    folder: Path, frames: dict[str, np.ndarray | bytes] | None = None, meta: object = None
) -> tuple[Path, Path]:
    """A DAVIS folder (Annotations/clip/<frame>.png, optional meta.json) over one video."""
    images = folder / "videos"
    write_video(images)
    dataset = folder / "davis"
    annotations = dataset / "Annotations" / "clip"
    annotations.mkdir(parents=True, exist_ok=True)
    for name, content in (frames if frames is not None else {"00000.png": square_labels()}).items():
        if isinstance(content, bytes):
            (annotations / name).write_bytes(content)
        else:
            image = Image.fromarray(content)
            if content.dtype == np.uint8:
                image = image.convert("P")
            image.save(annotations / name)
    if meta is not None:
        (dataset / "meta.json").write_text(json.dumps(meta))
    return dataset, images


def labelme(folder: Path, data: object = None) -> tuple[Path, Path]:
    """A labelme folder (one JSON beside nothing else) over one image in images/."""
    images = folder / "images"
    write_image(images)
    dataset = folder / "labelme"
    dataset.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = labelme_base()
    (dataset / "img.json").write_text(json.dumps(data))
    return dataset, images


def labelme_base() -> dict:
    points = [[SQUARE[i], SQUARE[i + 1]] for i in range(0, len(SQUARE), 2)]
    return {
        "version": "5.5.0",
        "flags": {},
        "imagePath": "../images/img.png",
        "imageData": None,
        "imageHeight": HEIGHT,
        "imageWidth": WIDTH,
        "shapes": [
            {"label": "thing", "points": points, "group_id": None, "shape_type": "polygon", "flags": {}},
            {"label": "box", "points": [[2, 2], [9, 9]], "group_id": 3, "shape_type": "rectangle"},
            {"label": "dot", "points": [[40, 40]], "group_id": None, "shape_type": "point"},
        ],
    }


CVAT_IMAGE = """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version>
<meta><task><size>3</size><labels><label><name>thing</name></label></labels></task></meta>
<image id="0" name="img.png" width="{w}" height="{h}">
<polygon label="thing" points="{p0},{p1};30,10;30,30;{p2},30" z_order="{z}" group_id="{g}"></polygon>
<box label="thing" xtl="{b0}" ytl="2" xbr="{b1}" ybr="9" rotation="{r}"></box>
<mask label="thing" rle="{rle}" left="{m0}" top="2" width="{m1}" height="4"></mask>
<ellipse label="thing" cx="{e0}" cy="20" rx="{e1}" ry="5"></ellipse>
</image></annotations>
"""
CVAT_VIDEO = """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version>
<meta><task><size>{size}</size><start_frame>{start}</start_frame><frame_filter>step={step}</frame_filter>
<labels><label><name>thing</name></label></labels>
<original_size><width>{w}</width><height>{h}</height></original_size></task></meta>
<track id="0" label="thing">
<polygon frame="{f0}" outside="0" keyframe="1" points="10,10;{v0},10;30,30"></polygon>
<polygon frame="{f1}" outside="{o}" keyframe="1" points="12,12;{v1},12;32,32;{v2},9"></polygon></track>
<track id="1" label="thing">
<box frame="{f0}" outside="0" keyframe="1" xtl="{b0}" ytl="2" xbr="{b1}" ybr="9"></box>
<mask frame="{f1}" outside="0" keyframe="1" rle="{rle}" left="{m0}" top="2" width="{m1}"
 height="4"></mask></track>
</annotations>
"""
CVAT_FIELDS = {
    "w": WIDTH, "h": HEIGHT, "p0": 10, "p1": 10, "p2": 10, "z": 0, "g": 0, "b0": 2, "b1": 9, "r": 0,
    "rle": "3, 5, 8", "m0": 40, "m1": 4, "e0": 20, "e1": 5, "size": 3, "start": 0, "step": 1,
    "f0": 0, "f1": 2, "o": 0, "v0": 30, "v1": 32, "v2": 12,
}  # fmt: skip


def cvat(folder: Path, xml: str | bytes | None = None) -> tuple[Path, Path]:
    """An unzipped CVAT export: annotations.xml beside images/ (img.png and two more frames of
    its size, so that the folder is also a three-frame video)."""
    dataset = folder / "cvat"
    for name in ("img.png", "frame_000001.png", "frame_000002.png"):
        write_image(dataset / "images", name)
    if xml is None:
        xml = CVAT_IMAGE.format(**CVAT_FIELDS)
    (folder / "elsewhere").mkdir(exist_ok=True)
    target = dataset / "annotations.xml"
    if isinstance(xml, bytes):
        target.write_bytes(xml)
    else:
        target.write_text(xml, encoding="utf-8", errors="surrogateescape")
    return dataset, folder / "elsewhere"


VOC_DETECT = (
    "<annotation><filename>{file}</filename><size><width>{w}</width><height>{h}</height>"
    "<depth>3</depth></size><object><name>{name}</name><truncated>{t}</truncated><bndbox>"
    "<xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object></annotation>"
)
VOC_DETECT_FIELDS = {
    "file": "img.png", "w": WIDTH, "h": HEIGHT, "name": "thing", "t": 1, "x0": 2, "y0": 3, "x1": 20, "y1": 30,
}  # fmt: skip


def voc_detect(folder: Path, xml: str | None = None) -> tuple[Path, Path]:
    """A VOC detection folder: Annotations/img.xml over JPEGImages/img.png."""
    dataset = folder / "vocdet"
    write_image(dataset / "JPEGImages")
    (dataset / "Annotations").mkdir(parents=True, exist_ok=True)
    text = VOC_DETECT.format(**VOC_DETECT_FIELDS) if xml is None else xml
    (dataset / "Annotations" / "img.xml").write_text(text, encoding="utf-8", errors="surrogateescape")
    (folder / "elsewhere").mkdir(exist_ok=True)
    return dataset, folder / "elsewhere"


def voc(
    folder: Path, labelmap: str | bytes | None = None, masks: dict[str, bytes] | None = None
) -> tuple[Path, Path]:
    """A VOC segmentation folder over one image (JPEGImages/img.png): labelmap.txt and the
    SegmentationClass / SegmentationObject PNGs (``masks``: folder name -> PNG bytes)."""
    import io

    dataset = folder / "voc"
    write_image(dataset / "JPEGImages")
    labelmap = "background:0,0,0::\nthing:128,0,0::\n" if labelmap is None else labelmap
    target = dataset / "labelmap.txt"
    target.write_bytes(
        labelmap if isinstance(labelmap, bytes) else labelmap.encode("utf-8", "surrogateescape")
    )
    if masks is None:
        out = io.BytesIO()
        Image.fromarray(square_labels()).convert("P").save(out, format="PNG")
        masks = {"SegmentationClass": out.getvalue(), "SegmentationObject": out.getvalue()}
    for name, data in masks.items():
        (dataset / name).mkdir(exist_ok=True)
        (dataset / name / "img.png").write_bytes(data)
    (folder / "elsewhere").mkdir(exist_ok=True)
    return dataset, folder / "elsewhere"


SQUARE_RLE = {"size": [HEIGHT, WIDTH], "counts": [WIDTH * 10, 20, HEIGHT * WIDTH - WIDTH * 10 - 20]}


def ytvis_base() -> dict:
    return {
        "videos": [{"id": 1, "width": WIDTH, "height": HEIGHT, "length": VIDEO_FRAMES,
                    "file_names": [f"clip/{i:05d}.png" for i in range(VIDEO_FRAMES)]}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [{"id": 1, "video_id": 1, "category_id": 1, "score": 0.5,
                         "segmentations": [SQUARE_RLE, None, [SQUARE]]}],
    }  # fmt: skip


def ytvis(folder: Path, data: object = None) -> tuple[Path, Path]:
    """A YouTube-VIS split folder: instances.json beside JPEGImages/clip/ (VIDEO_FRAMES frames)."""
    dataset = folder / "ytvis"
    for i in range(VIDEO_FRAMES):
        write_image(dataset / "JPEGImages" / "clip", f"{i:05d}.png")
    (dataset / "instances.json").write_text(json.dumps(ytvis_base() if data is None else data))
    (folder / "elsewhere").mkdir(exist_ok=True)
    return dataset, folder / "elsewhere"


def sa1b_base() -> dict:
    return {
        "image": {"image_id": 1, "file_name": "img.png", "width": WIDTH, "height": HEIGHT},
        "annotations": [{"id": 1, "segmentation": SQUARE_RLE, "predicted_iou": 0.9,
                         "point_coords": [[20, 20]], "bbox": [10, 10, 20, 20], "area": 400}],
    }  # fmt: skip


def sa1b(folder: Path, data: object = None) -> tuple[Path, Path]:
    """An SA-1B folder: img.json beside img.png."""
    dataset = folder / "sa1b"
    write_image(dataset)
    (dataset / "img.json").write_text(json.dumps(sa1b_base() if data is None else data))
    (folder / "elsewhere").mkdir(exist_ok=True)
    return dataset, folder / "elsewhere"


def fingerprint(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots``: compare before and after to prove nothing changed."""
    out = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
