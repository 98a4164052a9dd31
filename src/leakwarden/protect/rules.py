"""Which column of which file or table gets which operator: protect rules.

Rules come from a rule file (YAML or TOML) or from the discovery inventory.  A rule file::

    version: 1
    output: columns          # tables: columns (new <col>_protected columns) | table (new table)
    on_bad: fail             # default policy for values an operator cannot take
    rules:
      - table: customers     # a table name (schema.table or table)
        column: mobile
        operator: mask       # a spec for leakwarden.protect.registry.build_operator
        type: cn_mobile      # optional: the PI type the operator formats for
        on_bad: mask         # fail | mask | suppress
      - file: "*.csv"        # a glob over the file's path or name
        field: id_number     # a CSV column, a JSON field path (user.phone, items[].addr), or a
        operator: ff1:ids    # Parquet column
        type: cn_resident_id

Every error names the rule file and the place in it (line for YAML, key path for TOML).  Rules
from the inventory use a default operator per sensitivity (``sensitive`` → one spec, ``personal``
→ another), overridable per type.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from leakwarden.protect.operator import OnBadValue
from leakwarden.store.records import InventoryEntry

__all__ = [
    "ON_BAD",
    "OUTPUT_MODES",
    "OutputMode",
    "Rule",
    "RuleError",
    "RuleSet",
    "load_rules",
    "parse_rules",
    "rules_from_inventory",
]

ON_BAD: tuple[OnBadValue, ...] = ("fail", "mask", "suppress")
#: How a table is rewritten: into new ``<col>_protected`` columns, or into a new table.
OutputMode = Literal["columns", "table"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("columns", "table")
_RULE_KEYS = {"table", "file", "column", "field", "operator", "type", "on_bad"}
_TOP_KEYS = {"version", "output", "on_bad", "rules"}


class RuleError(ValueError):
    """A rule file or rule set that cannot be used; the message says where and what."""


@dataclass(frozen=True)
class Rule:
    """Protect ``column`` of the tables/files matched by ``target`` with ``operator``.

    ``kind`` is ``table`` or ``file``; ``target`` is a table name or a file glob; ``origin``
    says where the rule came from (``rules.yaml line 7``, ``inventory``), for messages.
    """

    kind: Literal["table", "file"]
    target: str
    column: str
    operator: str
    type_id: str | None = None
    on_bad: OnBadValue = "fail"
    origin: str = ""

    def matches_table(self, table: str) -> bool:
        if self.kind != "table":
            return False
        return self.target == table or self.target == table.rsplit(".", 1)[-1]

    def matches_file(self, path: str | Path, root: str | Path | None = None) -> bool:
        if self.kind != "file":
            return False
        p = Path(path)
        names = {str(p), p.name, str(p.resolve())}
        parts = p.resolve().parts
        names.update("/".join(parts[k:]) for k in range(1, len(parts)))  # path tails
        if root is not None:
            with contextlib.suppress(ValueError):
                names.add(str(p.resolve().relative_to(Path(root).resolve())))
        return any(fnmatch.fnmatchcase(n, self.target) for n in names)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "column": self.column,
            "operator": self.operator,
            "type": self.type_id,
            "on_bad": self.on_bad,
        }


@dataclass(frozen=True)
class RuleSet:
    """Rules plus the table output mode; ``source`` names the rule file (or ``inventory``)."""

    rules: tuple[Rule, ...]
    output: OutputMode = "columns"
    source: str = ""
    problems: tuple[str, ...] = field(default=())

    def for_table(self, table: str) -> list[Rule]:
        return self._unique([r for r in self.rules if r.matches_table(table)])

    def for_file(self, path: str | Path, root: str | Path | None = None) -> list[Rule]:
        return self._unique([r for r in self.rules if r.matches_file(path, root)])

    def tables(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.rules:
            if r.kind == "table":
                seen.setdefault(r.target)
        return list(seen)

    def digest(self) -> str:
        """SHA-256 of the rules' canonical JSON: what a manifest records to spot changed rules."""
        body = json.dumps(
            {"output": self.output, "rules": [r.describe() for r in self.rules]},
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    @staticmethod
    def _unique(rules: list[Rule]) -> list[Rule]:
        """One rule per column: two rules for the same column is a mistake, said so."""
        by_column: dict[str, Rule] = {}
        for rule in rules:
            other = by_column.get(rule.column)
            if other is not None and (other.operator, other.on_bad) != (rule.operator, rule.on_bad):
                raise RuleError(
                    f"column {rule.column!r} has two rules: {other.origin or other.operator} "
                    f"and {rule.origin or rule.operator}"
                )
            by_column.setdefault(rule.column, rule)
        return list(by_column.values())


# -- rule files ------------------------------------------------------------------------------


class _Located(dict[str, Any]):
    """A mapping from a YAML document that remembers its line (1-based)."""

    line: int = 0


def _yaml_load(text: str) -> Any:
    import yaml  # type: ignore[import-untyped]

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def construct(loader: Any, node: Any) -> _Located:
        loader.flatten_mapping(node)
        mapping = _Located(loader.construct_mapping(node, deep=True))
        mapping.line = node.start_mark.line + 1
        return mapping

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct)
    try:
        return yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleError(f"not valid YAML at {where}: {problem}") from None


def load_rules(path: str | Path) -> RuleSet:
    """Read a rule file (``.yaml``/``.yml`` or ``.toml``); :class:`RuleError` says where."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"cannot read rule file {p}: {exc}") from None
    try:
        if p.suffix.lower() == ".toml":
            try:
                data: Any = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise RuleError(f"not valid TOML: {exc}") from None
        elif p.suffix.lower() in (".yaml", ".yml"):
            data = _yaml_load(text)
        else:
            raise RuleError("rule files end in .yaml, .yml or .toml")
        return parse_rules(data, str(p))
    except RuleError as exc:
        raise RuleError(f"{p}: {exc}") from None


def _where(node: Any, key_path: str) -> str:
    line = getattr(node, "line", 0)
    return f"line {line} ({key_path})" if line else key_path


def parse_rules(data: Any, source: str = "rules") -> RuleSet:
    """Rules from a parsed rule document (a mapping as in the module docstring)."""
    if not isinstance(data, Mapping):
        raise RuleError("the document must be a mapping with a 'rules' list")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise RuleError(
            f"{_where(data, unknown[0])}: unknown key {unknown[0]!r}; "
            f"known: {', '.join(sorted(_TOP_KEYS))}"
        )
    version = data.get("version", 1)
    if version != 1:
        raise RuleError(f"{_where(data, 'version')}: version {version!r} unsupported (only 1)")
    output = data.get("output", "columns")
    if output not in OUTPUT_MODES:
        raise RuleError(
            f"{_where(data, 'output')}: output {output!r} unknown; one of {', '.join(OUTPUT_MODES)}"
        )
    default_bad = data.get("on_bad", "fail")
    if default_bad not in ON_BAD:
        raise RuleError(
            f"{_where(data, 'on_bad')}: on_bad {default_bad!r} unknown; one of {', '.join(ON_BAD)}"
        )
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(f"{_where(data, 'rules')}: 'rules' must be a non-empty list")
    rules = [
        _parse_rule(item, f"rules[{i}]", default_bad, source) for i, item in enumerate(raw_rules)
    ]
    return RuleSet(tuple(rules), cast(OutputMode, output), source)


def _parse_rule(item: Any, key: str, default_bad: OnBadValue, source: str) -> Rule:
    if not isinstance(item, Mapping):
        raise RuleError(f"{key}: a rule must be a mapping (table/file, column, operator)")
    where = _where(item, key)
    unknown = sorted(set(item) - _RULE_KEYS)
    if unknown:
        raise RuleError(
            f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(_RULE_KEYS))}"
        )
    if ("table" in item) == ("file" in item):
        raise RuleError(f"{where}: give exactly one of 'table' or 'file'")
    kind: Literal["table", "file"] = "table" if "table" in item else "file"
    target = item[kind]
    if "column" in item and "field" in item:
        raise RuleError(f"{where}: give 'column' or 'field', not both")
    column = item.get("column", item.get("field"))
    for name, value in ((kind, target), ("column", column), ("operator", item.get("operator"))):
        if not isinstance(value, str) or not value.strip():
            raise RuleError(f"{where}: '{name}' must be a non-empty string")
    operator = str(item["operator"]).strip()
    _check_operator(operator, where)
    type_id = item.get("type")
    if type_id is not None:
        from leakwarden.detect.types import PI_TYPES

        if type_id not in PI_TYPES:
            raise RuleError(
                f"{where}: unknown type {type_id!r}; known: {', '.join(sorted(PI_TYPES))}"
            )
    on_bad = item.get("on_bad", default_bad)
    if on_bad not in ON_BAD:
        raise RuleError(f"{where}: on_bad {on_bad!r} unknown; one of {', '.join(ON_BAD)}")
    line = getattr(item, "line", 0)
    origin = f"{source} line {line}" if line else f"{source} {key}"
    return Rule(kind, str(target), str(column), operator, type_id, on_bad, origin)


_SPEC_KINDS = {"mask", "hmac", "ff1", "token", "generalize", "suppress"}
_NEEDS_ARG = {"hmac", "ff1", "token", "generalize"}


def _check_operator(spec: str, where: str) -> None:
    """The spec's grammar (the registry checks the details when the operator is built)."""
    kind, sep, arg = spec.partition(":")
    if kind not in _SPEC_KINDS:
        raise RuleError(
            f"{where}: operator {spec!r} unknown; one of mask, mask:<mask>, hmac:<key>, "
            "ff1:<key>, token:<key>, generalize:<how>, suppress"
        )
    if kind in _NEEDS_ARG and not arg.strip():
        raise RuleError(f"{where}: operator {spec!r} needs a name after ':' ({kind}:<name>)")
    if kind == "suppress" and sep:
        raise RuleError(f"{where}: operator {spec!r}: suppress takes no argument")


def spec_key(spec: str) -> str | None:
    """The key name a spec uses (``hmac:k`` → ``k``), or ``None`` for keyless operators."""
    kind, _, arg = spec.partition(":")
    return arg.strip() if kind in ("hmac", "ff1", "token") else None


# -- rules from the inventory ----------------------------------------------------------------

#: Default operators per sensitivity: identity documents and accounts are encrypted
#: format-preserving (reversible with the key, joins still work); other PI is masked.
DEFAULT_BY_SENSITIVITY = {"sensitive": "ff1:{key}", "personal": "mask"}
#: Types FF1 cannot keep valid, or that are free text: tokenised / masked instead.
DEFAULT_BY_TYPE = {
    "person_name": "mask",
    "address": "mask",
    "email": "mask",
    "date_of_birth": "generalize:birth_year",
    "cn_passport": "token:{key}",
    "cn_hk_macau_permit": "token:{key}",
    "iban": "token:{key}",
}


def rules_from_inventory(
    entries: Iterable[InventoryEntry],
    *,
    key: str = "pi",
    by_sensitivity: Mapping[str, str] | None = None,
    by_type: Mapping[str, str] | None = None,
    on_bad: OnBadValue = "mask",
    output: OutputMode = "columns",
    min_confidence: float = 0.0,
) -> RuleSet:
    """One rule per (container, column) the inventory found PI in.

    Free-text locations (a log file, ``field == ""``) are skipped and listed in ``problems``:
    a rewrite works on columns.  When a column has entries of several types the most sensitive
    (then the most confident) decides.
    """
    sens = {**DEFAULT_BY_SENSITIVITY, **(by_sensitivity or {})}
    types = {**DEFAULT_BY_TYPE, **(by_type or {})}
    best: dict[tuple[str, str, str], InventoryEntry] = {}
    problems: list[str] = []
    for entry in entries:
        loc = entry.location
        if entry.confidence < min_confidence:
            continue
        if not loc.field:
            problems.append(
                f"{loc.source} {loc.container}: free text ({entry.pi_type}) is not rewritten"
            )
            continue
        k = (loc.source, loc.container, loc.field)
        old = best.get(k)
        rank = (entry.sensitivity == "sensitive", entry.confidence)
        if old is None or rank > (old.sensitivity == "sensitive", old.confidence):
            best[k] = entry
    rules = []
    for (source, container, column), entry in sorted(best.items()):
        template = types.get(entry.pi_type) or sens.get(entry.sensitivity) or "mask"
        spec = template.format(key=key)
        kind: Literal["table", "file"] = (
            "table" if entry.source_kind.value == "database" else "file"
        )
        _check_operator(spec, f"inventory {container}.{column}")
        rules.append(
            Rule(kind, container, column, spec, entry.pi_type, on_bad, f"inventory {source}")
        )
    if not rules:
        raise RuleError("the inventory has no column-level entries to protect")
    return RuleSet(tuple(rules), output, "inventory", tuple(problems))
