"""What the find-all bar asks: phrases typed as ``car; person; bicycle``, exemplar boxes, each
phrase's category, and the history of queries. Qt-free.

A query is a :class:`FindAllQuery`; the model's answer (one ``Instances`` per phrase) becomes the
groups of a :class:`~samdesk.session.instances.PendingInstances` (:func:`answer_groups`), each
going to its phrase's category: the project's category of that name, or a new one made from the
phrase when the instances are accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model_runtime.api import Exemplar, Instances, Prompts
from samdesk.document import Project
from samdesk.labelling.request import phrase_key
from samdesk.session.instances import InstanceGroup

PHRASE_SEPARATOR = ";"
HISTORY_LENGTH = 30
DEFAULT_THRESHOLD = 0.5


def split_phrases(text: str) -> tuple[str, ...]:
    """``"car; person ;; car"`` -> ``("car", "person")``: stripped, each once, in order."""
    phrases: list[str] = []
    for part in text.split(PHRASE_SEPARATOR):
        phrase = " ".join(part.split())
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    return tuple(phrases)


def join_phrases(phrases: Sequence[str]) -> str:
    return f"{PHRASE_SEPARATOR} ".join(phrases)


def remember(history: Sequence[str], text: str, keep: int = HISTORY_LENGTH) -> list[str]:
    """The history with ``text`` (normalised) first and not repeated, at most ``keep`` long."""
    query = join_phrases(split_phrases(text))
    if not query:
        return list(history)
    return [query, *(h for h in history if h != query)][:keep]


def category_for(project: Project, phrase: str) -> int | None:
    """The project's category for ``phrase``: same name, else the same ignoring case; None when
    there is none (a new one is made from the phrase when its instances are accepted)."""
    exact = project.category_by_name(phrase)
    if exact is not None:
        return exact.id
    folded = phrase.casefold()
    return next((c.id for c in project.categories if c.name.casefold() == folded), None)


@dataclass(frozen=True)
class FindAllQuery:
    """``phrases`` (maybe none) and ``exemplars`` (example boxes, positive or negative) on one
    image; ``threshold``: instances scoring above it are shown (the slider re-filters)."""

    phrases: tuple[str, ...] = ()
    exemplars: tuple[Exemplar, ...] = ()
    threshold: float = DEFAULT_THRESHOLD

    @classmethod
    def of(cls, text: str, exemplars: Sequence[Exemplar] = (), threshold: float = DEFAULT_THRESHOLD
           ) -> FindAllQuery:
        return cls(split_phrases(text), tuple(exemplars), float(threshold))

    @property
    def empty(self) -> bool:
        return not self.phrases and not self.exemplars

    def prompts(self) -> Prompts:
        """One phrase as a string (one answer), several as a tuple (one answer each)."""
        text: str | tuple[str, ...] | None = None
        if len(self.phrases) == 1:
            text = self.phrases[0]
        elif self.phrases:
            text = self.phrases
        return Prompts(text=text, exemplars=self.exemplars)


def answer_groups(project: Project, query: FindAllQuery, answer: Instances | Sequence[Instances]
                  ) -> list[InstanceGroup]:
    """The model's answer as review groups: one per phrase (its pool, the phrase, its task key
    and category), or one unlabelled group for exemplars alone."""
    answers = [answer] if isinstance(answer, Instances) else list(answer)
    if not query.phrases:
        return [InstanceGroup(answers[0].pool)]
    if len(answers) != len(query.phrases):
        raise ValueError(f"{len(answers)} answers for {len(query.phrases)} phrases")
    return [
        InstanceGroup(found.pool, phrase, phrase_key(phrase), category_for(project, phrase))
        for phrase, found in zip(query.phrases, answers, strict=True)
    ]
