"""Write the import fixtures of tests/data/datasets with the other tools' own writers.

Run by hand, in a separate virtual environment (these writers are not test dependencies; their
output is committed, a few kB)::

    python3 -m venv /tmp/fixture-writers
    /tmp/fixture-writers/bin/pip install datumaro==1.13.12 labelme2coco==0.2.6 \
        supervision==0.31.2 "opencv-python-headless<5"
    /tmp/fixture-writers/bin/pip install --no-deps labelme==6.3.1
    /tmp/fixture-writers/bin/python tests/data/datasets/make_fixtures.py

Every writer gets the same annotations (:func:`source_annotations`) on the same two images, and
``expected.json`` holds, per fixture, what a reader should get back: the masks as the writing
tool rasterises them (datumaro's own mask tools; labelme's own ``shape_to_mask``), as COCO RLE.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

HERE = Path(__file__).resolve().parent
SIZES = {"a": (64, 48), "b": (80, 60)}  # image name -> (width, height)
LABELS = ["car", "dog", "person"]


def rle(mask: np.ndarray) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def write_images() -> None:
    folder = HERE / "images"
    folder.mkdir(exist_ok=True)
    for name, (w, h) in SIZES.items():
        ramp = np.linspace(0, 255, w * h * 3).astype(np.uint8).reshape(h, w, 3)
        Image.fromarray(ramp).save(folder / f"{name}.png")


def disc(w: int, h: int, cx: int, cy: int, r: int, hole: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    d2 = (xx - cx) ** 2 + (yy - cy) ** 2
    return (d2 <= r * r) & (d2 > hole * hole)


def source_annotations() -> dict[str, list[dict]]:
    """Per image: objects as {label, polygons | mask | box} (one object per entry)."""
    wa, ha = SIZES["a"]
    wb, hb = SIZES["b"]
    return {
        "a": [
            {"label": "car", "polygons": [[4, 4, 20, 4, 20, 16, 4, 16], [24, 6, 30, 6, 27, 14]]},  # two parts
            {"label": "dog", "mask": disc(wa, ha, 44, 30, 9)},
            {"label": "person", "box": [40, 2, 60, 14]},  # box only: a detection
            {"label": "dog", "polygons": [[6, 26, 22, 24, 26, 40, 8, 44]]},
        ],
        "b": [
            {"label": "car", "mask": disc(wb, hb, 30, 30, 16, hole=6)},  # a ring
            {"label": "person", "polygons": [[55, 5, 75, 10, 70, 50, 52, 40]]},
        ],
    }


# --- datumaro: CVAT for images 1.1, VOC segmentation, COCO instances, SA-1B, YOLO (Ultralytics) ----


def datumaro_dataset(subsets: dict[str, str] | None = None):
    import datumaro as dm
    from datumaro.util import mask_tools

    items, expected = [], {}
    for name, objects in source_annotations().items():
        w, h = SIZES[name]
        annotations, exp = [], []
        for group, obj in enumerate(objects, start=1):
            label = LABELS.index(obj["label"])
            if "box" in obj:
                x0, y0, x1, y1 = obj["box"]
                annotations.append(dm.Bbox(x0, y0, x1 - x0, y1 - y0, label=label, group=group, id=group))
                exp.append({"label": obj["label"], "box": obj["box"]})
            elif "mask" in obj:
                annotations.append(
                    dm.Mask(image=obj["mask"].astype(np.uint8), label=label, group=group, id=group)
                )
                exp.append({"label": obj["label"], "rle": rle(obj["mask"]), "source": "mask"})
            else:
                parts = [dm.Polygon(p, label=label, group=group, id=group) for p in obj["polygons"]]
                annotations += parts
                mask = mask_tools.rles_to_mask([p.points for p in parts], w, h).astype(bool)
                exp.append({"label": obj["label"], "rle": rle(mask), "source": "polygons"})
        items.append(
            dm.DatasetItem(
                id=name,
                subset=(subsets or {}).get(name, "default"),
                media=dm.Image.from_file(path=str(HERE / "images" / f"{name}.png")),
                annotations=annotations,
            )
        )
        expected[name] = exp
    dataset = dm.Dataset.from_iterable(items, categories=LABELS)
    return dataset, expected


def write_datumaro(expected_all: dict) -> None:
    for fmt, folder, options, subsets in (
        ("cvat", "datumaro_cvat", {"save_media": False}, None),
        ("voc_segmentation", "datumaro_voc", {"save_media": False}, None),
        ("coco_instances", "datumaro_coco", {"save_media": False}, None),
        ("segment_anything", "datumaro_sa1b", {"save_media": True}, None),
        ("yolo_ultralytics", "datumaro_yolo", {"save_media": True}, {"a": "train", "b": "val"}),
    ):
        target = HERE / folder
        shutil.rmtree(target, ignore_errors=True)
        dataset, expected = datumaro_dataset(subsets)
        dataset.export(str(target), fmt, **options)
        expected_all[folder] = expected


# --- labelme: hand-made files; labelme's own shape_to_mask says what they mean ---------------------


def load_labelme_shape():
    spec = importlib.util.find_spec("labelme")
    assert spec is not None and spec.submodule_search_locations, "labelme is not installed"
    root = Path(spec.submodule_search_locations[0])
    fake = types.ModuleType("labelme._label_file")
    fake.ShapeDict = dict
    sys.modules.setdefault("labelme", types.ModuleType("labelme"))
    sys.modules["labelme._label_file"] = fake
    shape_spec = importlib.util.spec_from_file_location("labelme_shape", root / "utils" / "shape.py")
    module = importlib.util.module_from_spec(shape_spec)
    shape_spec.loader.exec_module(module)
    return module


def b64_png(mask: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).convert("1").save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def labelme_files() -> dict[str, dict]:
    blob = disc(12, 10, 5, 4, 4)  # the mask shape's own pixels, pasted at (50, 36)-(61, 45)

    def shape(label: str, points: list, kind: str, group: int | None = None, **extra: object) -> dict:
        return {"label": label, "points": points, "group_id": group, "shape_type": kind, **extra}

    shapes_a = [
        shape("car", [[4, 4], [20, 4], [20, 16], [4, 16]], "polygon", 1),
        shape("car", [[24, 6], [30, 6], [27, 14]], "polygon", 1),
        shape("dog", [[44, 30], [44, 39]], "circle"),
        shape("person", [[60, 14], [40, 2]], "rectangle"),
        shape("rope", [[2, 46], [30, 40], [50, 46]], "linestrip"),
        shape("nose", [[33.5, 25.5]], "point"),
        shape("blob", [[50, 36], [61, 45]], "mask", mask=b64_png(blob)),
        shape("bag", [[6, 20], [14, 20], [14, 26], [6, 26]], "polygon", 7, description="handle and bag"),
        shape("bag", [[7, 18], [13, 21]], "rectangle", 7),
        shape("sign", [[40, 20], [52, 18], [54, 24], [42, 26]], "oriented_rectangle"),
    ]
    shapes_b = [
        shape("person", [[55, 5], [75, 10], [70, 50], [52, 40]], "polygon"),
        shape("pole", [[10, 5], [10, 55]], "line"),
        shape("car", [[-3, 30], [40, 28], [38, 62]], "polygon"),
    ]
    files = {}
    for name, shapes in (("a", shapes_a), ("b", shapes_b)):
        w, h = SIZES[name]
        for shape in shapes:
            shape.setdefault("description", "")
            shape.setdefault("flags", {})
            shape.setdefault("mask", None)
        files[name] = {
            "version": "5.5.0",
            "flags": {},
            "shapes": shapes,
            "imagePath": f"../images/{name}.png",
            "imageData": None,
            "imageHeight": h,
            "imageWidth": w,
        }
    return files


def write_labelme(expected_all: dict) -> None:
    shape = load_labelme_shape()
    target = HERE / "labelme"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    expected = {}
    for name, data in labelme_files().items():
        (target / f"{name}.json").write_text(json.dumps(data, indent=1))
        w, h = SIZES[name]
        objects: dict[object, dict] = {}
        for index, s in enumerate(data["shapes"]):
            key = (s["label"], s["group_id"]) if s["group_id"] is not None else index
            entry = objects.setdefault(key, {"label": s["label"], "mask": None, "rects": []})
            if s["shape_type"] == "rectangle":
                entry["rects"].append(s)
                continue
            if s["shape_type"] == "mask":  # labelme.utils.shapes_to_label's rule
                pasted = np.zeros((h, w), bool)
                (x1, y1), (x2, y2) = np.asarray(s["points"]).astype(int)
                raw = np.asarray(Image.open(io.BytesIO(base64.b64decode(s["mask"])))).astype(bool)
                pasted[y1 : y2 + 1, x1 : x2 + 1] = raw
                m = pasted
            else:
                m = shape.shape_to_mask((h, w), s["points"], s["shape_type"])
            entry["mask"] = m if entry["mask"] is None else entry["mask"] | m
        exp = []
        for entry in objects.values():
            if entry["mask"] is None:  # rectangles only: a box
                (ax, ay), (bx, by) = entry["rects"][0]["points"]
                exp.append(
                    {"label": entry["label"], "box": [min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)]}
                )
                continue
            mask = entry["mask"]
            for r in entry["rects"]:
                mask = mask | shape.shape_to_mask((h, w), r["points"], "rectangle")
            exp.append({"label": entry["label"], "rle": rle(mask)})
        expected[name] = exp
    expected_all["labelme"] = expected
    # labelme2coco's COCO file of the polygons and rectangles of a.json (it refuses linestrips and
    # masks, and ignores group_id): rectangles become COCO annotations with a bbox and no
    # segmentation, a detection file written by a tool people use.
    import tempfile

    from labelme2coco import convert

    out = HERE / "labelme2coco"
    shutil.rmtree(out, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = labelme_files()["a"]
        data["shapes"] = [s for s in data["shapes"] if s["shape_type"] in ("polygon", "rectangle")]
        data["imagePath"] = str(HERE / "images" / "a.png")
        (Path(tmp) / "a.json").write_text(json.dumps(data))
        convert(tmp, str(out), train_split_rate=1.0)
        coco = json.loads((out / "dataset.json").read_text())
        for image in coco["images"]:
            image["file_name"] = Path(image["file_name"]).name  # not this machine's path
        (out / "dataset.json").write_text(json.dumps(coco, indent=1))
    w, h = SIZES["a"]
    expected_all["labelme2coco"] = {
        "a": [
            {
                "label": s["label"],
                "box": np.sort(np.asarray(s["points"]), axis=0).T.ravel()[[0, 2, 1, 3]].tolist(),
            }
            if s["shape_type"] == "rectangle"
            else {"label": s["label"], "rle": rle(pycocotools_polygon(s["points"], h, w))}
            for s in data["shapes"]
        ]
    }


def pycocotools_polygon(points: list, h: int, w: int) -> np.ndarray:
    flat = np.asarray(points, float).ravel().tolist()
    return mask_utils.decode(mask_utils.frPyObjects([flat], h, w))[:, :, 0].astype(bool)


# --- supervision: a Roboflow-style split layout written by its YOLO writer ------------------------


def box_of(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def write_supervision(expected_all: dict) -> None:
    import supervision as sv

    target = HERE / "supervision_roboflow"
    shutil.rmtree(target, ignore_errors=True)
    expected = {}
    for split, names in (("train", ["a"]), ("valid", ["b"])):
        images, annotations = {}, {}
        for name in names:
            w, h = SIZES[name]
            path = str(HERE / "images" / f"{name}.png")
            objs = [o for o in source_annotations()[name] if "mask" in o]
            masks = np.stack([o["mask"] for o in objs])
            xyxy = np.array([box_of(m) for m in masks], dtype=float)
            class_id = np.array([LABELS.index(o["label"]) for o in objs])
            images[path] = np.asarray(Image.open(path).convert("RGB"))[:, :, ::-1]
            annotations[path] = sv.Detections(xyxy=xyxy, mask=masks, class_id=class_id)
            expected[name] = [{"label": o["label"], "rle": rle(o["mask"]), "split": split} for o in objs]
        dataset = sv.DetectionDataset(classes=LABELS, images=list(images), annotations=annotations)
        dataset.as_yolo(
            images_directory_path=str(target / split / "images"),
            annotations_directory_path=str(target / split / "labels"),
        )
    # What Ultralytics makes of each written polygon (its polygons2masks), computed with the
    # project's test environment, which has Ultralytics (installed --no-deps by make test).
    for split, names in (("train", ["a"]), ("valid", ["b"])):
        for name in names:
            w, h = SIZES[name]
            lines = (target / split / "labels" / f"{name}.txt").read_text().split("\n")
            polygons = [np.asarray(line.split()[1:], float).reshape(-1, 2) * (w, h) for line in lines if line]
            for entry, mask in zip(expected[name], ultralytics_masks((h, w), polygons), strict=True):
                entry["ultralytics"] = rle(mask)
    # Roboflow's data.yaml: splits relative to a folder above, names as a flow list.
    (target / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\n"
        f"nc: {len(LABELS)}\nnames: {LABELS!r}\n\n"
        "roboflow:\n  workspace: samdesk\n  project: fixtures\n  version: 1\n  license: CC BY 4.0\n"
    )
    expected_all["supervision_roboflow"] = expected


def ultralytics_masks(size: tuple[int, int], polygons: list[np.ndarray]) -> list[np.ndarray]:
    """Ultralytics' ``polygons2masks`` of each pixel polygon, run by the repository's .venv python."""
    import subprocess
    import tempfile

    python = HERE.parents[2] / ".venv" / "bin" / "python"
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "in.npz", *polygons)
        code = (
            "import numpy as np; from ultralytics.data.utils import polygons2masks; "
            f"d = np.load({str(Path(tmp) / 'in.npz')!r}); "
            "polys = [d[f'arr_{i}'].ravel() for i in range(len(d))]; "
            f"out = [polygons2masks({size!r}, [p], 1, 1)[0] for p in polys]; "
            f"np.save({str(Path(tmp) / 'out.npy')!r}, np.stack(out))"
        )
        env = {"YOLO_CONFIG_DIR": tmp, "YOLO_OFFLINE": "1", "YOLO_VERBOSE": "False", "PATH": "/usr/bin:/bin"}
        subprocess.run([str(python), "-c", code], check=True, env=env)
        return list(np.load(Path(tmp) / "out.npy").astype(bool))


def main() -> None:
    write_images()
    expected: dict = {}
    write_datumaro(expected)
    write_labelme(expected)
    write_supervision(expected)
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
