"""The readers other tools train and evaluate with, used as test oracles for our exports.

- Ultralytics (installed ``--no-deps`` by ``make test``): its label check ``verify_image_label`` and
  its dataset reader ``YOLODataset``, whose masks are what a YOLO-seg model trains on.
- supervision (the ``test`` extra): ``DetectionDataset.from_yolo`` / ``from_coco``.
- The DAVIS 2017 loader (``davis2017-evaluation``, not on PyPI): :class:`Davis2017` follows its
  reading rules, written from the official ``davis2017/davis.py``.

Ultralytics writes a settings file and looks for fonts in its config folder when imported, so
:func:`ultralytics_modules` points ``YOLO_CONFIG_DIR`` at a scratch folder first and runs it offline.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

_ULTRALYTICS_HOME = Path(tempfile.gettempdir()) / f"samdesk-tests-ultralytics-{os.getuid()}"


def ultralytics_modules() -> SimpleNamespace:
    """Ultralytics' label check, dataset reader, YAML reader and config, imported offline."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(_ULTRALYTICS_HOME))
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_VERBOSE"] = "False"
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
    (the reader would resize them otherwise)."""
    u = ultralytics_modules()
    data = u.YAML.load(dataset / "data.yaml")
    images = sorted((dataset / "images").iterdir())
    checked = {}
    for image in images:
        label = dataset / "labels" / (image.stem + ".txt")
        im_file, lb, _shape, segments, _kpts, _nm, _nf, _ne, nc, msg = u.verify_image_label(
            (str(image), str(label), "", False, len(data["names"]), 0, 0, False)
        )
        checked[str(image)] = (lb, segments, msg, bool(nc))
    hyp = u.get_cfg(overrides={"mask_ratio": 1, "overlap_mask": False})
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        reader = u.YOLODataset(
            img_path=str(dataset / "images"), imgsz=imgsz, augment=False, hyp=hyp, rect=False, data=data,
            task="segment", cache=False, batch_size=1, stride=32, pad=0.0, single_cls=False,
        )  # fmt: skip
    out = []
    for index in range(len(reader)):
        item = reader[index]
        height, width = item["ori_shape"]
        left, top = (int(v) for v in item["ratio_pad"][1])
        masks = item["masks"].numpy()[:, top : top + height, left : left + width].astype(bool)
        lb, segments, msg, corrupt = checked[item["im_file"]]
        classes = [] if lb is None else [int(c) for c in lb[:, 0]]
        out.append(YoloImage(Path(item["im_file"]), classes, segments or [], msg, corrupt, masks))
    return out


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
