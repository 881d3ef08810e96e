"""CLIP's byte-pair tokenizer as SAM 3 uses it: lower-cased, context 32, ``[SOT] tokens [EOT]``.

The vocabulary (49,408 entries) is built from the OpenAI CLIP merges file shipped in
``assets/`` (see ``assets/LICENSES.md``): the 256 byte symbols, the same with an end-of-word
mark ``</w>``, the first 48,894 merges, then ``<start_of_text>`` and ``<end_of_text>``.

Text is cleaned as the official tokenizer does: ``ftfy.fix_text``, HTML entities unescaped
twice, runs of whitespace collapsed to one space, trimmed, lower-cased. It is then split into
words (the special-token strings, English contractions, runs of letters, single digits, runs of
other non-space characters), each word's UTF-8 bytes are mapped to printable symbols, and the
merges are applied lowest rank first. A phrase longer than the context is cut to its first
``context - 1`` tokens plus ``[EOT]`` (so the end-of-text token is always last); ids after the
end are 0.
"""

from __future__ import annotations

import gzip
import html
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import ftfy
import regex
import torch

CONTEXT_LENGTH = 32
SOT = "<start_of_text>"
EOT = "<end_of_text>"
_NUM_MERGES = 49152 - 256 - 2  # merges used: the file's lines 1 .. 48,894 (line 0 is a header)
_WORD = regex.compile(
    rf"{SOT}|{EOT}|'s|'t|'re|'ve|'m|'ll|'d|[\p{{L}}]+|[\p{{N}}]|[^\s\p{{L}}\p{{N}}]+", regex.IGNORECASE
)
_SPACES = regex.compile(r"\s+")
_WORD_CACHE_LIMIT = 50_000


def default_vocabulary_path() -> Path:
    """The bundled merges file (package data of ``model_runtime``)."""
    return Path(str(resources.files("model_runtime.models.sam3") / "assets" / "bpe_simple_vocab_16e6.txt.gz"))


@lru_cache(maxsize=1)
def byte_symbols() -> dict[int, str]:
    """Each byte 0..255 -> a printable character: printable Latin-1 bytes stand for themselves,
    the others (controls, space, ...) for the characters from U+0100 on, in byte order.

    The dict's order is the vocabulary's: the printable bytes first, then the others."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in kept}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def clean(text: str) -> str:
    """The official ``_clean_lower``: fix the text, unescape HTML twice, squeeze spaces, lower-case."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return _SPACES.sub(" ", text).strip().lower()


@dataclass(frozen=True)
class Tokens:
    """Token ids of a batch of phrases.

    ids:       long (B, context): ``[SOT] tokens [EOT]`` then zeros
    truncated: per phrase, whether tokens were cut to fit the context
    """

    ids: torch.Tensor
    truncated: tuple[bool, ...]

    @property
    def padding_mask(self) -> torch.Tensor:
        """bool (B, context): True where the position is padding (id 0), as ``language_mask``."""
        return self.ids == 0


class Tokenizer:
    """CLIP BPE; ``tokenizer(["red car", ...])`` -> :class:`Tokens` of width ``context_length``."""

    def __init__(self, vocabulary: str | Path | None = None, context_length: int = CONTEXT_LENGTH) -> None:
        path = Path(vocabulary) if vocabulary is not None else default_vocabulary_path()
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        merges = [tuple(line.split()) for line in lines[1 : _NUM_MERGES + 1]]
        if len(merges) != _NUM_MERGES or any(len(m) != 2 for m in merges):
            raise ValueError(f"{path}: not the CLIP merges file ({len(merges)} merges read)")
        symbols = list(byte_symbols().values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [SOT, EOT]
        self.encoder: dict[str, int] = {token: i for i, token in enumerate(vocab)}
        self.decoder: dict[int, str] = {i: token for token, i in self.encoder.items()}
        self.merge_rank: dict[tuple[str, str], int] = {pair: i for i, pair in enumerate(merges)}  # type: ignore[misc]
        self.sot_id = self.encoder[SOT]
        self.eot_id = self.encoder[EOT]
        self.context_length = context_length
        self._byte_symbols = byte_symbols()
        self._words: dict[str, tuple[str, ...]] = {SOT: (SOT,), EOT: (EOT,)}

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def _merge(self, word: str) -> tuple[str, ...]:
        """One word's symbols -> its BPE tokens (the last one ends with ``</w>``)."""
        cached = self._words.get(word)
        if cached is not None:
            return cached
        parts = [*word[:-1], word[-1] + "</w>"]
        unknown = len(self.merge_rank)
        while len(parts) > 1:
            pairs = list(zip(parts[:-1], parts[1:], strict=True))
            first, second = min(pairs, key=lambda pair: self.merge_rank.get(pair, unknown))
            if (first, second) not in self.merge_rank:
                break
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == first and parts[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        result = tuple(parts)
        if len(self._words) < _WORD_CACHE_LIMIT:
            self._words[word] = result
        return result

    def encode(self, text: str) -> list[int]:
        """A phrase -> its token ids, without ``[SOT]``/``[EOT]`` or truncation."""
        ids: list[int] = []
        for word in _WORD.findall(clean(text)):
            symbols = "".join(self._byte_symbols[b] for b in word.encode("utf-8"))
            ids.extend(self.encoder[token] for token in self._merge(symbols))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids -> text (words separated by spaces where ``</w>`` marks them)."""
        decoder = {v: k for k, v in self._byte_symbols.items()}
        text = "".join(self.decoder[int(i)] for i in ids)
        return bytearray(decoder[c] for c in text).decode("utf-8", errors="replace").replace("</w>", " ")

    def __call__(self, phrases: str | Sequence[str]) -> Tokens:
        """Phrases -> :class:`Tokens`; a phrase cut to fit the context gives a warning naming it."""
        if isinstance(phrases, str):
            phrases = [phrases]
        width = self.context_length
        ids = torch.zeros(len(phrases), width, dtype=torch.long)
        truncated = []
        for row, phrase in enumerate(phrases):
            tokens = [self.sot_id, *self.encode(phrase), self.eot_id]
            cut = len(tokens) > width
            if cut:
                warnings.warn(
                    f"text prompt {phrase!r} has {len(tokens) - 2} tokens; SAM 3 reads only the first "
                    f"{width - 2}, the rest is ignored",
                    UserWarning,
                    stacklevel=2,
                )
                tokens = [*tokens[: width - 1], self.eot_id]
            ids[row, : len(tokens)] = torch.tensor(tokens)
            truncated.append(cut)
        return Tokens(ids=ids, truncated=tuple(truncated))
