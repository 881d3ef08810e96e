"""One image labelled by a model: the model part of a batch run, the same wherever it runs.

:func:`label_steps` asks the model for every task of a :class:`LabelRequest` on one image and
turns the answer into :class:`FoundInstance` values: compressed RLE masks, boxes and scores,
small enough to stream from a cluster worker and independent of the document (no ids).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from model_runtime.api import (
    Capability,
    EverythingProgress,
    ImageEmbedding,
    Instances,
    ModelInfo,
    Prompts,
    require_capability,
    validate_image,
)
from samdesk.document import masks
from samdesk.document.masks import Rle
from samdesk.labelling.request import EVERYTHING_KEY, LabelRequest, phrase_key

ImageProvider = Callable[[], np.ndarray]


@dataclass(frozen=True)
class FoundInstance:
    """One instance: ``rle`` its mask (compressed COCO RLE of the image's size), ``box`` pixel
    x0, y0, x1, y1, ``score`` the model's confidence."""

    rle: Rle
    box: tuple[float, float, float, float]
    score: float


@dataclass
class ImageLabels:
    """What one image gave: ``found`` maps each task key ("text:car", "everything") to its
    instances in the model's order. ``error`` says why the image could not be labelled (then
    ``found`` is empty and the image is not recorded as done). ``content_hash``: sha256 of the
    bytes the worker read, when it read the file itself (checked against the project's)."""

    media_id: int
    model_id: str
    found: dict[str, list[FoundInstance]] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    content_hash: str | None = None

    def to_json(self) -> str:
        """JSON text (how labels travel back from cluster workers); floats round-trip exactly."""
        data = asdict(self)
        data["found"] = {
            task: [[f.rle, list(f.box), f.score] for f in found] for task, found in self.found.items()
        }
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ImageLabels:
        data = json.loads(text)
        found = {
            task: [FoundInstance(rle, (box[0], box[1], box[2], box[3]), score) for rle, box, score in items]
            for task, items in data.pop("found").items()
        }
        return cls(found=found, **data)


class ModelUnusable(Exception):
    """The model could not be loaded, or cannot serve the request; the message says which."""


def check_model(info: ModelInfo, request: LabelRequest) -> None:
    """Raise ``ModelCapabilityError`` when the model cannot serve ``request``."""
    if request.everything:
        require_capability(info, Capability.EVERYTHING, "segment everything")
    else:
        require_capability(info, Capability.CONCEPT, "find every instance of a phrase")


def label_steps(
    model: Any, embedding: ImageEmbedding, image_provider: ImageProvider, request: LabelRequest
) -> Generator[None, None, dict[str, list[FoundInstance]]]:
    """Label one image: yields between the point batches of a segment-everything sweep (so a
    caller can stop there), returns the instances per task key. ``embedding`` is the image's, by ``model``;
    the pixels are read through ``image_provider`` only when the task needs them."""
    if request.everything:
        image = validate_image(image_provider())
        result = None
        sweep = model.iter_everything(image, embedding, **request.settings)
        try:
            for step in sweep:  # one point batch each: a caller can stop between them
                if not isinstance(step, EverythingProgress):
                    kind = type(step).__name__
                    raise TypeError(f"iter_everything yielded a {kind}, not EverythingProgress")
                if step.final:
                    result = step.instances
                    break
                yield None
        finally:
            close = getattr(sweep, "close", None)
            if close is not None:
                close()
        if not isinstance(result, Instances):
            raise TypeError(f"iter_everything ended without its final answer ({type(result).__name__})")
        if request.threshold is not None:
            result = result.above(request.threshold)
        return {EVERYTHING_KEY: found_instances(result)}
    phrases = request.phrases
    prompts = Prompts(text=phrases if len(phrases) > 1 else phrases[0])
    answer = model.find_all(embedding, prompts, request.concept_threshold)
    per_phrase = answer if isinstance(answer, list) else [answer]
    if len(per_phrase) != len(phrases):
        raise ValueError(f"find_all answered {len(per_phrase)} results for {len(phrases)} phrases")
    return {phrase_key(p): found_instances(found) for p, found in zip(phrases, per_phrase, strict=True)}


def found_instances(instances: Instances) -> list[FoundInstance]:
    """Every instance with a non-empty mask, in the model's order (as the GUI's accept keeps
    them: an empty mask is no object)."""
    found: list[FoundInstance] = []
    for index in range(len(instances)):
        mask = np.asarray(instances.masks[index], dtype=bool)
        if not mask.any():
            continue
        x0, y0, x1, y1 = (float(v) for v in instances.boxes[index])
        found.append(FoundInstance(masks.encode(mask), (x0, y0, x1, y1), float(instances.scores[index])))
    return found


def label_file(model: Any, media_id: int, path: str, request: LabelRequest) -> ImageLabels:
    """Read, encode and label one image file with ``model`` (a cluster worker's whole job for
    one image); a failure is reported in the labels' ``error``. Records the content hash of
    the file read, so the caller can tell it is the project's image."""
    import time

    import torch

    from model_runtime.media import read_image
    from samdesk.document import file_content_hash

    labels = ImageLabels(media_id, model.info.model_id)
    start = time.perf_counter()
    try:
        labels.content_hash = file_content_hash(path)
        image = read_image(path)
        with torch.no_grad():
            embedding = model.encode_image(image)
            steps = label_steps(model, embedding, lambda: image, request)
            while True:
                try:
                    next(steps)
                except StopIteration as stop:
                    labels.found = stop.value
                    break
    except Exception as exc:
        labels.error = str(exc) or type(exc).__name__
    labels.seconds = time.perf_counter() - start
    return labels
