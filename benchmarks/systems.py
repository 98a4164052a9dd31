"""The two detectors under test, built the same way for the benchmark and its smoke test, and
the one table that maps type names between them.

Presidio runs with pattern recognizers only: no spaCy model can be obtained offline.  Two NLP
engines are offered, neither of which loads or downloads a model:

* ``noop``: Presidio's own ``NoOpNlpEngine`` (no tokens; context words in the text are unused).
* ``noop-default-regions``: as ``noop`` but with Presidio's default phone regions (slower,
  less accurate here; shows Presidio as shipped, minus spaCy).
* ``tokens``: a spaCy *blank* English pipeline (rule-based tokenizer, shipped inside spaCy) with
  each token's lower-cased text as its lemma, so Presidio's context enhancer can raise scores
  on words like "card" or "phone".  This is the most Presidio can do without a model.

Only the recognizers for the types both systems support are loaded (fewer recognizers is
faster, and other entities could not score anyway); the phone recognizer's regions are set to
``PRESIDIO_PHONE_REGIONS`` (see there).  Presidio has no Chinese language
support, so it always analyses with ``language="en"``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.scoring import Pred

# One table: comparison group -> (leakwarden type ids, Presidio entity names).
SHARED_TYPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "email": (frozenset({"email"}), frozenset({"EMAIL_ADDRESS"})),
    "phone": (frozenset({"phone", "cn_mobile", "cn_landline"}), frozenset({"PHONE_NUMBER"})),
    "bank_card": (frozenset({"bank_card"}), frozenset({"CREDIT_CARD"})),
    "iban": (frozenset({"iban"}), frozenset({"IBAN_CODE"})),
    "ip_address": (frozenset({"ip_address"}), frozenset({"IP_ADDRESS"})),
    "mac_address": (frozenset({"mac_address"}), frozenset({"MAC_ADDRESS"})),
    "us_ssn": (frozenset({"us_ssn"}), frozenset({"US_SSN"})),
}
# Presidio entities left out on purpose: PERSON/LOCATION need a spaCy model (none offline);
# DATE_TIME marks every date and time, not birth dates, so it cannot be scored as date_of_birth.

# Chosen for Presidio's benefit: on this corpus ("CN",) alone gave both the best phone F1 and the
# highest speed of the region sets tried -- ("CN",), ("CN", "US"), Presidio's default eight plus
# CN, and those plus JP/SG/AU -- because every non-Chinese number in it is written in
# international (+CC) form, which libphonenumber finds whatever the default region.
PRESIDIO_PHONE_REGIONS = ("CN",)
# Presidio's own default phone regions, for the "as shipped" configuration (informational).
PRESIDIO_DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
PRESIDIO_CONFIGS = ("noop", "tokens", "noop-default-regions")


def shared_group(type_name: str) -> str | None:
    """The comparison group of a leakwarden type id or a Presidio entity, else ``None``."""
    for group, (ours, theirs) in SHARED_TYPES.items():
        if type_name in ours or type_name in theirs:
            return group
    return None


class NetworkAttempt(RuntimeError):
    """Raised when code under benchmark tries to open a network connection."""


@contextmanager
def no_network() -> Iterator[list[str]]:
    """Refuse every outgoing connection and DNS lookup inside the block; yield the attempts.

    Used around building and running Presidio to prove that neither spaCy nor tldextract (used
    by Presidio's e-mail recognizer) fetches anything.
    """
    attempts: list[str] = []
    original_connect = socket.socket.connect
    original_getaddrinfo = socket.getaddrinfo

    def refuse_connect(self: socket.socket, address: Any) -> None:
        attempts.append(f"connect {address!r}")
        raise NetworkAttempt(f"network connection attempted to {address!r}")

    def refuse_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(f"getaddrinfo {host!r}")
        raise NetworkAttempt(f"DNS lookup attempted for {host!r}")

    socket.socket.connect = refuse_connect  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = refuse_getaddrinfo
    try:
        yield attempts
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.getaddrinfo = original_getaddrinfo


def build_presidio(config: str = "tokens") -> Any:
    """A Presidio ``AnalyzerEngine`` with pattern recognizers for the shared types only."""
    if config not in PRESIDIO_CONFIGS:
        raise ValueError(
            f"unknown Presidio configuration {config!r}; use one of {PRESIDIO_CONFIGS}"
        )
    import tldextract.tldextract as tld
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        MacAddressRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    # Presidio's e-mail recognizer calls tldextract, whose default extractor fetches the public
    # suffix list over the network on first use; use the snapshot shipped inside tldextract.
    tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)

    regions: tuple[str, ...] = PRESIDIO_PHONE_REGIONS
    if config == "noop-default-regions":
        regions = PRESIDIO_DEFAULT_PHONE_REGIONS
    nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    if config == "tokens":
        nlp_engine = _tokenizer_engine()
    nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        CreditCardRecognizer(),
        EmailRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        MacAddressRecognizer(),
        PhoneRecognizer(supported_regions=regions),
        UsSsnRecognizer(),
    ):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def _tokenizer_engine() -> Any:
    import spacy
    from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine

    class BlankTokenizerEngine(NoOpNlpEngine):
        """spaCy's rule-based English tokenizer, no model: tokens and lower-case lemmas."""

        engine_name = "blank_tokenizer"

        def load(self) -> None:
            super().load()
            self.tokenizer = spacy.blank("en")

        def process_text(self, text: str, language: str) -> Any:
            self._validate_loaded_language(language)
            doc = self.tokenizer(text)
            return NlpArtifacts(
                entities=[],
                tokens=doc,
                tokens_indices=[t.idx for t in doc],
                lemmas=[t.text.lower() for t in doc],
                nlp_engine=self,
                language=language,
                scores=[],
            )

        def is_stopword(self, word: str, language: str) -> bool:
            return bool(self.tokenizer.vocab[word].is_stop)

        def is_punct(self, word: str, language: str) -> bool:
            return bool(self.tokenizer.vocab[word].is_punct)

    return BlankTokenizerEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])


def presidio_finder(config: str) -> Callable[[str], list[Pred]]:
    engine = build_presidio(config)

    def find(text: str) -> list[Pred]:
        results = engine.analyze(text=text, language="en", score_threshold=0.0)
        return [Pred(r.entity_type, r.start, r.end, float(r.score)) for r in results]

    return find


def leakwarden_finder(use_ner: bool) -> Callable[[str], list[Pred]]:
    """``default_detector()`` (names and addresses on) or ``Detector(use_ner=False)``."""
    from leakwarden.detect.engine import Detector, default_detector

    detector = default_detector() if use_ner else Detector(use_ner=False)

    def find(text: str) -> list[Pred]:
        return [Pred(f.type, f.start, f.end, f.score) for f in detector.find(text)]

    return find


def leakwarden_finder_many(use_ner: bool) -> Callable[[list[str]], list[list[Pred]]]:
    """As :func:`leakwarden_finder`, over a list of documents with ``Detector.find_many`` (the
    name/address CRF decodes the segments of many documents together; same findings)."""
    from leakwarden.detect.engine import Detector, default_detector

    detector = default_detector() if use_ner else Detector(use_ner=False)
    if not hasattr(detector, "find_many"):  # an older leakwarden: one document at a time
        return lambda texts: [
            [Pred(f.type, f.start, f.end, f.score) for f in detector.find(t)] for t in texts
        ]

    def find_many(texts: list[str]) -> list[list[Pred]]:
        return [
            [Pred(f.type, f.start, f.end, f.score) for f in doc]
            for doc in detector.find_many(texts)
        ]

    return find_many


def leakwarden_decode() -> Callable[[bytes], str]:
    """leakwarden's own decoding (encoding detection + decode) when it exists, else UTF-8."""
    try:
        from leakwarden.detect.normalize import decode_bytes
    except ImportError:
        return lambda data: data.decode("utf-8")
    return lambda data: decode_bytes(data)[0]


SYSTEMS: dict[str, Callable[[], Callable[[str], list[Pred]]]] = {
    "leakwarden": lambda: leakwarden_finder(use_ner=True),
    "leakwarden-no-ner": lambda: leakwarden_finder(use_ner=False),
    "presidio-tokens": lambda: presidio_finder("tokens"),
    "presidio-noop": lambda: presidio_finder("noop"),
    "presidio-default-regions": lambda: presidio_finder("noop-default-regions"),
}
# Systems with a batch entry point, which the worker then uses: a scanner hands leakwarden many
# texts at once.  Presidio's BatchAnalyzerEngine only loops over analyze(), so it keeps the
# per-document call.
BATCH_SYSTEMS: dict[str, Callable[[], Callable[[list[str]], list[list[Pred]]]]] = {
    "leakwarden": lambda: leakwarden_finder_many(use_ner=True),
    "leakwarden-no-ner": lambda: leakwarden_finder_many(use_ner=False),
}


def leakwarden_forget() -> None:
    """Clear leakwarden's per-value validator memo (``clear_value_caches``), if it has one."""
    try:
        from leakwarden.detect.engine import clear_value_caches
    except ImportError:
        return
    clear_value_caches()


# Called before every timed pass: a pass over documents already seen would otherwise answer
# most validations from the memo, which new data never does (passes 2+ ran ~2x faster).
# Presidio keeps no per-value memo.
FORGET: dict[str, Callable[[], None]] = {
    "leakwarden": leakwarden_forget,
    "leakwarden-no-ner": leakwarden_forget,
}
