"""What a batch run asks of the model for each image: the only input a worker needs besides the
model and the image. A plain, picklable value."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

EVERYTHING_KEY = "everything"
TEXT_PREFIX = "text:"
DEFAULT_CONCEPT_THRESHOLD = 0.5


def phrase_key(phrase: str) -> str:
    """The task key of a phrase ("text:car"): what is recorded per image as done."""
    return f"{TEXT_PREFIX}{phrase}"


def clean_phrases(phrases: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Phrases stripped, in order, each once; ValueError for an empty one."""
    cleaned: list[str] = []
    for phrase in phrases:
        text = phrase.strip()
        if not text:
            raise ValueError("an empty phrase: give each --text a noun phrase, e.g. --text car")
        if text not in cleaned:
            cleaned.append(text)
    return tuple(cleaned)


@dataclass(frozen=True)
class LabelRequest:
    """``phrases``: noun phrases for a ``concept`` model (SAM 3), one task each; ``everything``:
    segment everything with an ``everything`` model (SAM 1/2), one task. ``threshold``: keep
    instances scoring strictly above it (None: concept models 0.5, segment everything keeps
    what its sweep kept). ``settings``: segment everything's settings (points_per_side, ...)."""

    phrases: tuple[str, ...] = ()
    everything: bool = False
    threshold: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if bool(self.phrases) == self.everything:
            raise ValueError("give phrases (--text) or --everything, not both and not neither")

    @property
    def task_keys(self) -> tuple[str, ...]:
        """One key per task, in order: "text:<phrase>" per phrase, or "everything"."""
        if self.everything:
            return (EVERYTHING_KEY,)
        return tuple(phrase_key(p) for p in self.phrases)

    def only(self, keys: tuple[str, ...] | list[str]) -> LabelRequest:
        """The same request restricted to the tasks ``keys`` (those an image still needs)."""
        if self.everything:
            return self
        wanted = set(keys)
        phrases = tuple(p for p in self.phrases if phrase_key(p) in wanted)
        return LabelRequest(phrases, False, self.threshold, dict(self.settings))

    @property
    def concept_threshold(self) -> float:
        return DEFAULT_CONCEPT_THRESHOLD if self.threshold is None else self.threshold

    def to_json(self) -> str:
        """The request as JSON text (how it travels to cluster workers)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LabelRequest:
        data = json.loads(text)
        settings = {k: tuple(v) if isinstance(v, list) else v for k, v in data["settings"].items()}
        return cls(tuple(data["phrases"]), bool(data["everything"]), data["threshold"], settings)
