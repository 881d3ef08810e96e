"""The readers other tools train and evaluate with, used as test oracles for our exports.

- Ultralytics (installed ``--no-deps`` by ``make test``): its label check ``verify_image_label`` and
  its dataset reader ``YOLODataset``, whose masks are what a YOLO-seg model trains on.
- supervision (the ``test`` extra): ``DetectionDataset.from_yolo`` / ``from_coco``.
- The DAVIS 2017 loader (``davis2017-evaluation``, not on PyPI): :class:`Davis2017` follows its
  reading rules, written from the official ``davis2017/davis.py``.

Ultralytics changes the process it is imported into (it replaces ``PIL.Image.open`` with a
version that installs a HEIF plugin with pip when Pillow cannot identify a file, and writes a
settings file), so :func:`read_yolo` runs it in a child process, offline, with its config folder
in a scratch place.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

_ULTRALYTICS_HOME = Path(tempfile.gettempdir()) / f"samdesk-tests-ultralytics-{os.getuid()}"
_REPO_ROOT = Path(__file__).resolve().parents[1]


def ultralytics_modules() -> SimpleNamespace:
    """Ultralytics' label check, dataset reader, YAML reader and config. Import it only in a
    child process (:func:`read_yolo`): it patches the process it is imported into."""
    from ultralytics.cfg import get_cfg
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import polygons2masks, verify_image_label
    from ultralytics.utils import YAML

    return SimpleNamespace(
        get_cfg=get_cfg,
        YOLODataset=YOLODataset,
        verify_image_label=verify_image_label,
        polygons2masks=polygons2masks,
        YAML=YAML,
    )


@dataclass
class YoloImage:
    """One image as Ultralytics reads it: the label check's verdict and the masks it trains on."""

    image: Path
    classes: list[int]
    segments: list[np.ndarray]  # normalised (K, 2) per label line, as the label check returns them
    problems: str  # the label check's message ("" when the labels are fine)
    corrupt: bool
    masks: np.ndarray  # bool (N, H, W): the dataset reader's masks, letterbox padding cut away


def read_yolo(dataset: Path, imgsz: int) -> list[YoloImage]:
    """Read an exported YOLO-seg folder as Ultralytics does: every label through
    ``verify_image_label``, then every image through ``YOLODataset`` (no augmentation, masks at
    full resolution, one mask per instance). All images must have ``imgsz`` as their longest side
    (the reader would resize them otherwise). Runs in a child process (see the module docstring)."""
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "read.npz"
        call = f"_read_yolo_here({str(dataset)!r}, {imgsz}, {str(result)!r})"
        code = f"from tests.readers import _read_yolo_here; {call}"
        env = {**os.environ, "YOLO_CONFIG_DIR": str(_ULTRALYTICS_HOME), "YOLO_OFFLINE": "1"}
        env["YOLO_VERBOSE"] = "False"
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=_REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        with np.load(result, allow_pickle=False) as data:
            count = int(data["count"])
            return [
                YoloImage(
                    Path(str(data[f"image{i}"])),
                    [int(c) for c in data[f"classes{i}"]],
                    [s for s in np.split(data[f"points{i}"], data[f"splits{i}"]) if len(s)],
                    str(data[f"problems{i}"]),
                    bool(data[f"corrupt{i}"]),
                    data[f"masks{i}"],
                )
                for i in range(count)
            ]


def _read_yolo_here(dataset: str, imgsz: int, result: str) -> None:
    """The child's part of :func:`read_yolo`: read with Ultralytics, save the arrays to ``result``."""
    u = ultralytics_modules()
    root = Path(dataset)
    data = u.YAML.load(root / "data.yaml")
    checked = {}
    for image in sorted((root / "images").iterdir()):
        label = root / "labels" / (image.stem + ".txt")
        _im, lb, _shape, segments, _kpts, _nm, _nf, _ne, nc, msg = u.verify_image_label(
            (str(image), str(label), "", False, len(data["names"]), 0, 0, False)
        )
        checked[str(image)] = (lb, segments or [], msg, bool(nc))
    hyp = u.get_cfg(overrides={"mask_ratio": 1, "overlap_mask": False})
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        reader = u.YOLODataset(
            img_path=str(root / "images"), imgsz=imgsz, augment=False, hyp=hyp, rect=False, data=data,
            task="segment", cache=False, batch_size=1, stride=32, pad=0.0, single_cls=False,
        )  # fmt: skip
    arrays: dict[str, np.ndarray] = {"count": np.array(len(reader))}
    for i in range(len(reader)):
        item = reader[i]
        height, width = item["ori_shape"]
        left, top = (int(v) for v in item["ratio_pad"][1])
        lb, segments, msg, corrupt = checked[item["im_file"]]
        arrays[f"image{i}"] = np.array(item["im_file"])
        arrays[f"classes{i}"] = np.array([] if lb is None else lb[:, 0], np.int64)
        arrays[f"points{i}"] = np.concatenate(segments) if segments else np.zeros((0, 2), np.float32)
        arrays[f"splits{i}"] = np.cumsum([len(s) for s in segments])[:-1].astype(np.int64)
        arrays[f"problems{i}"] = np.array(msg)
        arrays[f"corrupt{i}"] = np.array(corrupt)
        arrays[f"masks{i}"] = item["masks"].numpy()[:, top : top + height, left : left + width].astype(bool)
    np.savez(result, **arrays)


def supervision_yolo(dataset: Path) -> dict[str, object]:
    """``supervision.DetectionDataset.from_yolo`` with masks: image file name -> Detections."""
    import supervision as sv

    ds = sv.DetectionDataset.from_yolo(
        images_directory_path=str(dataset / "images"),
        annotations_directory_path=str(dataset / "labels"),
        data_yaml_path=str(dataset / "data.yaml"),
        force_masks=True,
    )
    return {Path(path).name: detections for path, _image, detections in ds}


def supervision_coco(images: Path, annotations: Path) -> dict[str, object]:
    """``supervision.DetectionDataset.from_coco`` with masks: image file name -> Detections."""
    import supervision as sv

    ds = sv.DetectionDataset.from_coco(
        images_directory_path=str(images), annotations_path=str(annotations), force_masks=True
    )
    return {Path(path).name: detections for path, _image, detections in ds}


class Davis2017:
    """The DAVIS 2017 loader's reading rules (``davis2017/davis.py``), for semi-supervised sets.

    ``root/ImageSets/2017/<subset>.txt`` lists the sequences; a sequence's frames are the sorted
    ``root/JPEGImages/<resolution>/<seq>/*.jpg`` and its masks the sorted
    ``root/Annotations/<resolution>/<seq>/*.png``, paired by position (not by name), the mask list
    padded with ``-1`` up to the number of frames. Masks are read with PIL as palette indices;
    255 is "void" and counts as background. The number of objects is the largest index in the
    first mask.
    """

    SUBSETS = ("train", "val", "test-dev", "test-challenge")

    def __init__(self, root: Path, subset: str = "val", resolution: str = "480p") -> None:
        if subset not in self.SUBSETS:
            raise ValueError(f"Subset should be in {self.SUBSETS}")
        self.img_path = os.path.join(root, "JPEGImages", resolution)
        self.mask_path = os.path.join(root, "Annotations", resolution)
        imagesets = os.path.join(root, "ImageSets", "2017", f"{subset}.txt")
        if not os.path.exists(imagesets):
            raise FileNotFoundError(f"Subset sequences list for {subset} not found")
        if not os.path.exists(self.mask_path):
            raise FileNotFoundError("Annotations folder not found")
        with open(imagesets) as fh:
            names = [line.strip() for line in fh.readlines()]
        self.sequences: dict[str, dict[str, list]] = {}
        for seq in names:
            images = sorted(glob(os.path.join(self.img_path, seq, "*.jpg")))
            if not images:
                raise FileNotFoundError(f"Images for sequence {seq} not found.")
            masks: list = sorted(glob(os.path.join(self.mask_path, seq, "*.png")))
            masks.extend([-1] * (len(images) - len(masks)))
            self.sequences[seq] = {"images": images, "masks": masks}

    def frames(self, seq: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """(image RGB, mask indices) pairs as ``get_frames`` yields them (a padded ``-1`` mask
        fails to open, as in the official loader)."""
        entry = self.sequences[seq]
        return [
            (np.array(Image.open(img)), np.array(Image.open(msk)))
            for img, msk in zip(entry["images"], entry["masks"], strict=False)
        ]

    def all_masks(self, seq: str) -> tuple[np.ndarray, list[str]]:
        """``get_all_masks(seq, separate_objects_masks=True)``: bool (objects, frames, H, W) and
        the frame ids (mask file names without suffix)."""
        files = self.sequences[seq]["masks"]
        first = np.array(Image.open(files[0]))
        stacked = np.zeros((len(files), *first.shape))
        ids = []
        for i, name in enumerate(files):
            stacked[i] = np.array(Image.open(name))
            stacked[i][stacked[i] == 255] = 0
            ids.append("".join(os.path.basename(name).split(".")[:-1]))
        count = int(np.max(stacked[0]))
        per_object = stacked[None] == np.arange(1, count + 1)[:, None, None, None]
        return per_object, ids
