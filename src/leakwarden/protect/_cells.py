"""One column's protection during a rewrite: the operator, the bad-value policy, the counts.

Shared by the file and table rewriters.  A value the operator cannot take (``OperatorError``),
or that holds bytes the file's encoding could not decode, goes to the rule's policy: ``fail``
raises :class:`BadValueError` (naming where and what kind of value, never the value), ``mask``
writes ``*`` per character, ``suppress`` writes an empty value.  Never the clear value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from leakwarden.protect.operator import Operator, OperatorError
from leakwarden.protect.rules import Rule

__all__ = ["BadValueError", "ColumnCounts", "ColumnProtector", "RewriteError", "value_shape"]


class RewriteError(Exception):
    """A rewrite that cannot go on; the message names the file/table and never holds a value."""


class BadValueError(RewriteError):
    """A value the rule's operator cannot take, under the ``fail`` policy."""

    def __init__(self, where: str, position: str, column: str, kind: str) -> None:
        self.where, self.position, self.column, self.kind = where, position, column, kind
        super().__init__(
            f"{where}, {position}, column {column!r}: {kind}; the rule's on_bad policy is "
            "'fail' (use mask or suppress to let such values through masked or empty)"
        )


@dataclass
class ColumnCounts:
    """What happened to one column's values."""

    column: str
    operator: str
    on_bad: str
    protected: int = 0  # values the operator turned into their protected form
    empty: int = 0  # NULL / missing: nothing to protect, left as it was
    bad: int = 0  # values handled by the on_bad policy (masked or suppressed)
    bad_kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "operator": self.operator,
            "on_bad": self.on_bad,
            "protected": self.protected,
            "empty": self.empty,
            "bad": self.bad,
            "bad_kinds": dict(self.bad_kinds),
        }


def _char_class(ch: str) -> str:
    if ch.isdigit():
        return "digits" if ch.isascii() else "non-ASCII digits"
    if ch.isalpha():
        if ch.isascii():
            return "Latin letters"
        return "CJK characters" if "CJK" in unicodedata.name(ch, "") else "other letters"
    if ch.isspace():
        return "spaces"
    if 0xDC80 <= ord(ch) <= 0xDCFF or ch == "\ufffd":
        return "undecodable bytes"
    return "punctuation"


def value_shape(value: str) -> str:
    """What a value looks like without saying what it is: ``17 characters: digits``."""
    classes: dict[str, None] = {}
    for ch in value[:200]:
        classes.setdefault(_char_class(ch))
    if not value:
        return "an empty value"
    return f"{len(value)} characters: {', '.join(classes)}"


#: U+FFFD (a decoder's replacement) or a lone surrogate from ``surrogateescape`` decoding.
_UNDECODABLE = re.compile("[\udc80-\udcff\ufffd]")


def _undecodable(value: str) -> bool:
    return not value.isascii() and _UNDECODABLE.search(value) is not None


class ColumnProtector:
    """Applies one rule's operator to one column's values, following its ``on_bad`` policy."""

    def __init__(self, rule: Rule, operator: Operator, where: str) -> None:
        self.rule = rule
        self.operator = operator
        self.where = where
        self.counts = ColumnCounts(rule.column, rule.operator, rule.on_bad)
        self._apply: Callable[[str, str | None], str] = operator.apply
        self._type = rule.type_id

    def __call__(self, value: Any, position: Callable[[], str]) -> str | None:
        """The protected form of ``value`` (``None`` stays ``None``); ``position`` is called
        only for an error message (``line 12``, ``row id=7``)."""
        if value is None:
            self.counts.empty += 1
            return None
        text = value if isinstance(value, str) else _text_of(value)
        if _undecodable(text):
            return self.bad(text, "bytes not valid in the file's encoding", position)
        try:
            out = self._apply(text, self._type)
        except OperatorError as exc:
            return self.bad(text, _safe_message(exc, text), position)
        except Exception as exc:  # an operator bug: its message may hold the value
            raise RewriteError(
                f"{self.where}, {position()}, column {self.rule.column!r}: operator "
                f"{self.rule.operator!r} failed ({type(exc).__name__}) on a value of "
                f"{value_shape(text)}"
            ) from None
        self.counts.protected += 1
        return out

    def many(self, values: list[Any], position_of: Callable[[int], str]) -> list[str | None]:
        """Protected forms of a chunk of values (``position_of(i)`` names value ``i``'s place).

        Operators with ``apply_many`` (the token vault: one store round trip per chunk) get the
        chunk's good values in one call; if that call rejects a value, the chunk is redone value
        by value so the policy applies to exactly the values that do not fit.
        """
        apply_many = getattr(self.operator, "apply_many", None)
        if apply_many is None:
            return [self(v, partial(position_of, i)) for i, v in enumerate(values)]
        out: list[str | None] = [None] * len(values)
        todo: list[int] = []
        texts: list[str] = []
        for i, v in enumerate(values):
            if v is None:
                continue
            text = v if isinstance(v, str) else _text_of(v)
            if _undecodable(text):
                out[i] = self(text, partial(position_of, i))
                continue
            todo.append(i)
            texts.append(text)
        if not texts:
            self.counts.empty += values.count(None)
            return out
        try:
            done = list(apply_many(texts, self._type))
        except OperatorError:
            for i, text in zip(todo, texts, strict=True):
                out[i] = self(text, partial(position_of, i))
        except Exception as exc:  # an operator bug: its message may hold a value
            raise RewriteError(
                f"{self.where}, {position_of(todo[0])}..{position_of(todo[-1])}, column "
                f"{self.rule.column!r}: operator {self.rule.operator!r} failed "
                f"({type(exc).__name__})"
            ) from None
        else:
            if len(done) != len(texts):
                raise RewriteError(
                    f"{self.where}: operator {self.rule.operator!r} returned {len(done)} values "
                    f"for {len(texts)}"
                )
            for i, protected in zip(todo, done, strict=True):
                out[i] = protected
            self.counts.protected += len(done)
        self.counts.empty += values.count(None)
        return out

    def bad(self, text: str, kind: str, position: Callable[[], str]) -> str:
        policy = self.rule.on_bad
        if policy == "fail":
            raise BadValueError(self.where, position(), self.rule.column, kind)
        self.counts.bad += 1
        short = kind if len(kind) <= 80 else kind[:77] + "..."
        self.counts.bad_kinds[short] = self.counts.bad_kinds.get(short, 0) + 1
        return "*" * len(text) if policy == "mask" else ""


def _text_of(value: Any) -> str:
    """A database or Parquet value as text: dates in ISO form, everything else by ``str``."""
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return str(iso())
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def _safe_message(exc: OperatorError, value: str) -> str:
    """The operator's description of a bad value, with the value cut out should it appear."""
    message = str(exc).strip() or "the value does not fit the operator"
    if len(value) >= 3 and value in message:
        message = message.replace(value, "<value>")
    return message.splitlines()[0]
