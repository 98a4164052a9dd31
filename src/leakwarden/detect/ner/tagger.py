"""``NameAddressTagger``: person names and postal addresses in free text, Chinese and Latin.

Chinese: a character-level linear-chain CRF (trained with python-crfsuite; decoded by
:class:`~leakwarden.detect.ner.fastcrf.FastCRF`, compiled loops that give crfsuite's labels, or by
crfsuite itself with ``fast=False``), BIO tags ``PER``/``ADDR``, run only on the lines/sentences
that contain a CJK character.  A span's score is the smallest CRF marginal probability of its
tags.  Latin script: :mod:`leakwarden.detect.ner.latin` rules over the
whole text.  The model and word lists are package data (see :mod:`.resources`); nothing is
downloaded.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from leakwarden.detect.model import Finding
from leakwarden.detect.ner import resources
from leakwarden.detect.ner.corpora import Span, spans_from_codes, spans_from_tags, tag_codes
from leakwarden.detect.ner.fastcrf import FastCRF, ModelFormatError
from leakwarden.detect.ner.features import Featurizer, has_cjk
from leakwarden.detect.ner.latin import LatinRules

PERSON = "person_name"
ADDRESS = "address"
_TYPE_OF = {"PER": PERSON, "ADDR": ADDRESS}
_TYPE_OF_CODE = {"P": PERSON, "p": PERSON, "A": ADDRESS, "a": ADDRESS}  # corpora.tag_codes

# Segment boundaries for the CRF: line breaks and sentence-final punctuation (kept in the segment
# before).  Commas stay inside, so "收件人：张伟，电话…，地址：…" is one segment with its context.
_SEGMENT_RE = re.compile(r"[^\n\r。！？!?；;]*[\n\r。！？!?；;]?")
_MAX_SEGMENT = 512
_BATCH_CHARS = 16384
_SOFT_BREAK_RE = re.compile(r"[，,\t 、]")


def _segments(text: str) -> Iterator[tuple[int, str]]:
    """(offset, segment) pairs covering the CJK-bearing parts of ``text``."""
    for m in _SEGMENT_RE.finditer(text):
        seg = m.group()
        if not seg or not has_cjk(seg):
            continue
        start = m.start()
        if len(seg) <= _MAX_SEGMENT:
            yield start, seg
            continue
        while len(seg) > _MAX_SEGMENT:
            cut = _MAX_SEGMENT
            for b in _SOFT_BREAK_RE.finditer(seg, _MAX_SEGMENT // 2, _MAX_SEGMENT):
                cut = b.end()
            yield start, seg[:cut]
            start += cut
            seg = seg[cut:]
        if seg and has_cjk(seg):
            yield start, seg


def _batches(text: str) -> Iterator[list[tuple[int, str]]]:
    """Segments grouped into batches of about ``_BATCH_CHARS`` (bounded memory on huge texts)."""
    batch: list[tuple[int, str]] = []
    size = 0
    for item in _segments(text):
        batch.append(item)
        size += len(item[1])
        if size >= _BATCH_CHARS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class NameAddressTagger:
    """Finds ``person_name`` and ``address`` spans.  Use :meth:`load` for the shipped model."""

    def __init__(
        self, model: bytes, featurizer: Featurizer, latin: LatinRules, *, fast: bool = True
    ) -> None:
        self._model = model
        self._featurizer = featurizer
        self._latin = latin
        self._local = threading.local()
        self._fast: FastCRF | None = None
        self._flat = True  # False: segments and spans in Python, per segment (the reference)
        if fast:
            try:
                self._fast = FastCRF(model, featurizer)
                self._codes = np.frombuffer(tag_codes(self._fast.labels), dtype=np.uint8)
            except ModelFormatError as exc:  # crfsuite still decodes it, only more slowly
                logging.getLogger(__name__).warning("NumPy CRF decoder unavailable: %s", exc)

    @classmethod
    def load(cls) -> NameAddressTagger:
        """The tagger over the model shipped in the package (loaded once, then cached)."""
        return _load_cached(None)

    @classmethod
    def from_directory(cls, directory: Path) -> NameAddressTagger:
        """A tagger over resource files in ``directory`` (the training tool's output)."""
        return _load(directory)

    def _crf(self) -> Any:
        tagger = getattr(self._local, "tagger", None)
        if tagger is None:
            import pycrfsuite

            tagger = pycrfsuite.Tagger()
            tagger.open_inmemory(self._model)
            self._local.tagger = tagger
        return tagger

    def tag_cjk(self, text: str) -> list[Finding]:
        """CRF findings only (no Latin rules), over every CJK-bearing segment of ``text``."""
        return self.tag_cjk_many([text])[0]

    def tag_cjk_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """:meth:`tag_cjk` of each text; the segments of many texts are decoded together in
        batches of about ``_BATCH_CHARS`` (each segment's labels depend on it alone, so the
        answer is the same as text by text, with fewer, larger array operations)."""
        out: list[list[Finding]] = [[] for _ in texts]
        if self._fast is None:
            for i, text in enumerate(texts):
                for text_batch in _batches(text):
                    self._tag_slow(text, text_batch, out[i])
            return out
        if self._flat:
            self._tag_flat_many(texts, out)
            return out
        batch: list[tuple[int, int, str]] = []
        size = 0
        for i, text in enumerate(texts):
            for offset, seg in _segments(text):
                batch.append((i, offset, seg))
                size += len(seg)
                if size >= _BATCH_CHARS:
                    self._tag_fast(texts, batch, out)
                    batch, size = [], 0
        if batch:
            self._tag_fast(texts, batch, out)
        return out

    def _tag_flat_many(self, texts: Sequence[str], out: list[list[Finding]]) -> None:
        """:meth:`tag_cjk_many` with segmenting and span finding in C (``_crfc.segments`` and
        ``_crfc.spans`` via :meth:`FastCRF.decode_spans`): Python is paid per span, not per
        segment.  The per-segment path (``_flat = False``) is the reference."""
        assert self._fast is not None
        segments = self._fast._c.segments
        batch: list[tuple[int, int, str]] = []
        size = 0
        for i, text in enumerate(texts):
            starts, ends = segments(text, _MAX_SEGMENT)
            for start, end in zip(starts, ends, strict=True):
                batch.append((i, start, text[start:end]))
                size += end - start
                if size >= _BATCH_CHARS:
                    self._tag_flat(texts, batch, out)
                    batch, size = [], 0
        if batch:
            self._tag_flat(texts, batch, out)

    def _tag_flat(
        self,
        texts: Sequence[str],
        batch: list[tuple[int, int, str]],
        out: list[list[Finding]],
    ) -> None:
        assert self._fast is not None
        found = self._fast.decode_spans([seg for _, _, seg in batch])
        for k, start, end, code, score in zip(*found, strict=True):
            i, offset, seg = batch[k]
            # Never report surrounding blanks as part of a span.
            while start < end and seg[start].isspace():
                start += 1
            while end > start and seg[end - 1].isspace():
                end -= 1
            if start == end:
                continue
            text = texts[i]
            out[i].append(
                Finding(
                    _TYPE_OF_CODE[code],
                    offset + start,
                    offset + end,
                    text[offset + start : offset + end],
                    score,
                )
            )

    def _tag_fast(
        self,
        texts: Sequence[str],
        batch: list[tuple[int, int, str]],
        out: list[list[Finding]],
    ) -> None:
        assert self._fast is not None
        codes = self._codes
        decoded = self._fast.decode_tagged([seg for _, _, seg in batch])
        for k, dec in decoded:  # segments with a label other than O
            i, offset, seg = batch[k]
            assert dec.marginals is not None
            ids = dec.label_ids
            # the marginal of each character's own label, read once per segment
            chosen = dec.marginals[np.arange(len(ids)), ids].tolist()
            spans = spans_from_codes(codes[ids].tobytes().decode("ascii"))
            out[i].extend(self._found(spans, chosen, texts[i], offset, seg))

    def _tag_slow(self, text: str, batch: list[tuple[int, str]], out: list[Finding]) -> None:
        crf = self._crf()
        all_features = self._featurizer.features_many([seg for _, seg in batch])
        for (offset, seg), features in zip(batch, all_features, strict=True):
            # marginals are read before crfsuite moves to the next segment
            out.extend(self._spans(crf.tag(features), crf.marginal, text, offset, seg))

    @staticmethod
    def _spans(
        tags: Sequence[str],
        marginal: Callable[[str, int], float],
        text: str,
        offset: int,
        seg: str,
    ) -> list[Finding]:
        """Spans of one tagged segment, scored by the smallest marginal of their tags."""
        scores = [marginal(tag, i) for i, tag in enumerate(tags)]
        return NameAddressTagger._found(spans_from_tags(tags), scores, text, offset, seg)

    @staticmethod
    def _found(
        spans: Sequence[Span], scores: Sequence[float], text: str, offset: int, seg: str
    ) -> list[Finding]:
        """Findings of one segment's spans, each scored by the smallest of its tags' marginals
        (``scores[i]``: the marginal of character i's label)."""
        out: list[Finding] = []
        for span in spans:
            start, end = span.start, span.end
            # Never report surrounding blanks as part of a span.
            while start < end and seg[start].isspace():
                start += 1
            while end > start and seg[end - 1].isspace():
                end -= 1
            if start == end:
                continue
            score = min(scores[span.start : span.end])
            out.append(
                Finding(
                    _TYPE_OF[span.label],
                    offset + start,
                    offset + end,
                    text[offset + start : offset + end],
                    float(score),
                )
            )
        return out

    def tag_latin(self, text: str) -> list[Finding]:
        """Rule findings for Latin-script names and addresses."""
        return [
            Finding(s.type, s.start, s.end, text[s.start : s.end], s.score)
            for s in self._latin.find(text)
        ]

    def tag(self, text: str) -> list[Finding]:
        """Names and addresses in ``text``, sorted by start, never overlapping."""
        return self.tag_many([text])[0]

    def tag_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """:meth:`tag` of each text (the CRF decodes the segments of all of them together)."""
        out: list[list[Finding]] = []
        for text, crf in zip(texts, self.tag_cjk_many(texts), strict=True):
            latin = self.tag_latin(text) if text else []
            out.append(crf or latin if not latin or not crf else _merge(crf + latin))
        return out


def _merge(found: list[Finding]) -> list[Finding]:
    """One finding per overlapping pair: the longer, then the higher-scoring one (a sweep)."""
    found.sort(key=lambda f: (f.start, -f.end))
    kept: list[Finding] = []
    for f in found:
        if kept and f.start < kept[-1].end:
            last = kept[-1]
            if (f.end - f.start, f.score) > (last.end - last.start, last.score):
                kept[-1] = f
            continue
        kept.append(f)
    return kept


def _load(directory: Path | None) -> NameAddressTagger:
    model = resources.read_bytes(resources.MODEL_FILE, directory)
    featurizer = Featurizer(
        resources.read_lines(resources.SURNAMES_FILE, directory),
        resources.read_lines(resources.PLACES_FILE, directory),
    )
    latin = LatinRules(
        resources.read_lines(resources.LATIN_FIRST_FILE, directory),
        resources.read_lines(resources.LATIN_LAST_FILE, directory),
        resources.read_lines(resources.STREET_SUFFIXES_FILE, directory),
    )
    tagger = NameAddressTagger(model, featurizer, latin)
    tagger._crf()  # fail now, not on the first text, if the model is unreadable
    return tagger


@lru_cache(maxsize=1)
def _load_cached(directory: Path | None) -> NameAddressTagger:
    return _load(directory)
