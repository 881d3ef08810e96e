"""Test doubles for batch labelling: a ``concept`` model and an ``everything`` model whose answers
depend on the image (so a wrong or repeated image shows), a loader by name that Ray workers can
import, and a way to make a worker die once, mid-run."""

from __future__ import annotations

import os
import signal
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from model_runtime.api import Capability, EverythingProgress, ImageEmbedding, Instances, Prompts
from tests.runtime_doubles import DoubleModel

BANDS = 4


def _bands(embedding: ImageEmbedding) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's band 0..BANDS-1 of its 8×8 block brightness (full size), and band means."""
    blocks = embedding.features["image_embed"].float().mean(dim=0).numpy()  # (H/8, W/8)
    h, w = embedding.original_size
    edges = np.quantile(blocks, np.linspace(0, 1, BANDS + 1)[1:-1])
    band = np.digitize(blocks, edges)
    full = np.repeat(np.repeat(band, 8, axis=0), 8, axis=1)
    padded = np.full((h, w), -1, dtype=np.int64)
    padded[: full.shape[0], : full.shape[1]] = full[:h, :w]
    means = np.array([blocks[band == b].mean() if (band == b).any() else 0.0 for b in range(BANDS)])
    return padded, means


def _instances(masks: np.ndarray, scores: np.ndarray, phrase: str | None = None) -> Instances:
    boxes = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(xs) else [0, 0, 0, 0])
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return Instances(masks, boxes, scores, presence=1.0, phrase=phrase)


class PhraseDouble(DoubleModel):
    """A ``concept`` model: for each phrase, one instance per brightness band of the image, the
    band's mask, scored from the band's brightness and the phrase (spread over 0..1)."""

    def __init__(self, variant: str = "phrases"):
        super().__init__(variant, capabilities=frozenset({Capability.CLICK, Capability.CONCEPT}))
        self.find_calls: list[tuple[str, ...]] = []

    def find_all(self, embedding: ImageEmbedding, prompts: Prompts, threshold: float = 0.5):
        self.find_calls.append(prompts.phrases)
        band, means = _bands(embedding)
        found = []
        for phrase in prompts.phrases:
            salt = zlib.crc32(phrase.encode()) % 97 / 97.0
            scores = ((means / 255.0 + salt) % 1.0).astype(np.float32)
            masks = np.stack([band == b for b in range(BANDS)])
            found.append(_instances(masks, scores, phrase).above(threshold))
        return found if len(found) > 1 else found[0]


class SweepDouble(DoubleModel):
    """An ``everything`` model: a sweep in two parts (the dark bands, then the bright ones), each
    band one instance scored by its brightness."""

    def __init__(self, variant: str = "sweep"):
        super().__init__(variant, capabilities=frozenset({Capability.CLICK, Capability.EVERYTHING}))
        self.sweeps = 0
        self.settings_seen: list[dict] = []

    def segment_everything(self, image: np.ndarray, embedding: ImageEmbedding | None = None, **settings):
        *_, last = self.iter_everything(image, embedding, **settings)
        return last.instances

    def iter_everything(self, image: np.ndarray, embedding: ImageEmbedding | None = None, **settings):
        self.sweeps += 1
        self.settings_seen.append(settings)
        embedding = embedding if embedding is not None else self.encode_image(image)
        band, means = _bands(embedding)
        masks = np.stack([band == b for b in range(BANDS)])
        scores = (means / 255.0).astype(np.float32)
        half = BANDS // 2
        yield EverythingProgress(1, 2, _instances(masks[:half], scores[:half]))
        yield EverythingProgress(2, 2, _instances(masks, scores), final=True)


def load_double(source: str, device: str | None = None) -> DoubleModel:
    """Builds a double from its name, as ``model_runtime.load_model`` builds a model from a file:
    "phrases" or "sweep", optionally followed by options, ``?a=1&b=2``, that act when the model
    encodes the image whose top-left red value is ``at`` (a marker, see :func:`make_images`):

    - ``die=1&flag=<file>``: the process exits, like a crashed or killed worker, the first time
      only (the flag file records that it happened; a restarted worker goes on)
    - ``interrupt=<pid>``: sends Ctrl+C (SIGINT) to process ``pid`` (the command's)
    - ``sleep=<seconds>``: every encode takes that long (so results arrive one by one)
    """
    name, _, options = source.partition("?")
    model = {"phrases": PhraseDouble, "sweep": SweepDouble}[name]()
    if options:
        settings = dict(part.split("=", 1) for part in options.split("&"))
        _act_on_encode(model, settings)
    return model


def _act_on_encode(model: DoubleModel, settings: dict[str, str]) -> None:
    encode = model.encode_image
    marker = int(settings.get("at", -1))

    def encode_and_act(image: np.ndarray) -> ImageEmbedding:
        time.sleep(float(settings.get("sleep", 0)))
        if int(image[0, 0, 0]) == marker:
            if "interrupt" in settings:
                os.kill(int(settings["interrupt"]), signal.SIGINT)
            if "die" in settings:
                try:
                    Path(settings["flag"]).touch(exist_ok=False)
                except FileExistsError:
                    pass
                else:
                    os._exit(17)
        return encode(image)

    model.encode_image = encode_and_act  # type: ignore[method-assign]


def make_images(folder: Path, count: int, size: tuple[int, int] = (48, 64)) -> list[Path]:
    """``count`` PNGs of random texture; image i's top-left red value is i + 1 (its marker)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        rng = np.random.default_rng(index)
        pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
        pixels[: size[0] // 2] //= 2  # a darker top half, so bands differ between images
        pixels[0, 0, 0] = index + 1
        path = folder / f"img_{index:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths
