"""Presenting a trace: JSON for machines, Rich tables for people, an HTML investigation report,
and the regulator-facing CSV of affected customers.

The JSON and HTML hold customer *ids* (the company's own keys), row numbers of the sample, match
confidences and which fields matched (field names, never values): no clear personal value of the
sample or of the customer base is written into a report.  Per copy, the fingerprint evidence
(canaries found, keyed row order, formats) is given with its log-likelihood and the copy's
recorded fingerprint parameters (which variants it got, never its data); canary rows of the
sample are listed by row number (they are synthetic people, never affected customers).  The
customer CSV (``customer_id,confidence,rows,fields``) is written atomically
(:func:`leakwarden.fileio.write_atomic`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from leakwarden.fileio import write_atomic
from leakwarden.trace.run import TraceResult

__all__ = ["print_tables", "render_html", "to_json", "write_customers_csv"]


def _copy_json(e: Any) -> dict[str, Any]:
    c = e.copy
    return {
        "export_id": c.export_id,
        "recipient": c.recipient,
        "requester": c.requester,
        "approvers": c.approvers,
        "executed_at": c.executed_at,
        "purpose": c.purpose,
        "columns": c.columns,
        "rows": c.rows,
        "customers": c.customers,
        "explained_customers": e.explained,
        "exclusive_customers": e.exclusive,
        "verbatim_rows": e.verbatim_rows,
        "log_likelihood": round(e.log_likelihood, 4),
        "posterior": e.posterior,
        "innocence_bound": e.innocence_bound if e.notes else None,
        "evidence": e.notes,
        "fingerprint": _fingerprint_json(e),
    }


_PARAMS = ("canaries", "subset", "order", "format", "operational")


def _fingerprint_json(e: Any) -> dict[str, Any]:
    f = e.fingerprint
    params = dict(e.copy.fingerprint)
    return {
        "canaries_registered": e.copy.canaries,
        "canaries_found": f.canaries,
        "canaries_strong": f.canaries_strong,
        "canaries_weak": f.canaries_weak,
        "order": {"ascents": f.ascents, "pairs": f.pairs} if f.has_order else None,
        "formats_seen": f.formats_seen,
        "formats_expected": f.formats_expected,
        "log_likelihood": {k: round(v, 4) for k, v in e.fingerprint_loglik.items()},
        "parameters": {k: params[k] for k in _PARAMS if k in params},
    }


def _order_cell(e: Any) -> str:
    f = e.fingerprint
    return f"{f.ascents}/{f.pairs}" if f.has_order and f.pairs else "-"


def to_json(result: TraceResult) -> dict[str, Any]:
    """The whole result as a JSON-able dict (module docstring)."""
    att = result.attribution
    s = result.sample
    return {
        "sample": {
            "path": s.path,
            "format": s.format,
            "encoding": s.encoding,
            "rows": len(s.rows),
            "columns": s.header,
        },
        "customer_base": att.base_customers,
        "affected": {
            "count": len(result.affected),
            "customers": [
                {
                    "customer_id": a.customer_id,
                    "confidence": a.confidence,
                    "rows": a.rows,
                    "fields": a.fields,
                }
                for a in result.affected
            ],
        },
        "possible": [
            {
                "customer_id": a.customer_id,
                "confidence": round(a.confidence, 4),
                "rows": a.rows,
                "fields": a.fields,
            }
            for a in result.possible
        ],
        "unexplained_rows": result.unexplained_rows,
        "canary_rows": sorted({h.row for h in result.canary_hits}),
        "attribution": {
            "verdict": att.verdict,
            "reason": att.reason,
            "named_export": att.named.copy.export_id if att.named else None,
            "named_recipient": att.named.copy.recipient if att.named else None,
            "none_of_the_copies_posterior": att.none_posterior,
            "evidence_customers": att.units,
            "copies": [_copy_json(e) for e in att.copies],
            "unscored_copies": [c.export_id for c in att.unscored],
            "model": {
                "other_route_rate": att.config.other_route_rate,
                "threshold": att.config.threshold,
                "min_confidence": att.config.min_confidence,
                "canary_other_route": att.config.canary_other_route,
                "order_kept": att.config.order_kept,
                "reformat_rate": att.config.reformat_rate,
                "prior": "uniform over the copies and 'none of them'",
            },
        },
        "seconds": {k: round(v, 4) for k, v in result.seconds.items()},
    }


def print_tables(result: TraceResult, console: Console, *, top: int = 10) -> None:
    """Summary, the ranked copies and the first affected customers as Rich tables."""
    att = result.attribution
    colour = {"attributed": "red", "undecided": "yellow"}.get(att.verdict, "cyan")
    console.print(
        f"[bold]{result.sample.path}[/bold]: {len(result.sample.rows)} rows read "
        f"({result.sample.format}); [bold]{len(result.affected)}[/bold] affected customers "
        f"of {att.base_customers:,}; {len(result.possible)} possible; "
        f"{len(result.unexplained_rows)} rows unexplained; "
        f"{len({h.row for h in result.canary_hits})} canary rows"
    )
    console.print(f"verdict: [bold {colour}]{att.verdict}[/bold {colour}]: {att.reason}")
    table = Table(title="Export copies, most likely first")
    for col in ("export", "recipient", "requester", "approvers", "customers", "explained",
                "exclusive", "verbatim", "canaries", "order", "posterior"):  # fmt: skip
        table.add_column(col, justify="right" if col not in {"export", "recipient"} else "left")
    for e in att.copies[:top]:
        table.add_row(
            e.copy.export_id,
            e.copy.recipient,
            e.copy.requester,
            ",".join(e.copy.approvers),
            str(e.copy.customers if e.copy.customers is not None else "-"),
            str(e.explained),
            str(e.exclusive),
            str(e.verbatim_rows),
            str(e.fingerprint.canaries),
            _order_cell(e),
            f"{e.posterior:.9f}",
        )
    table.add_row("(none of them)", "another route", "", "", "", "", "", "", "", "",
                  f"{att.none_posterior:.9f}")  # fmt: skip
    console.print(table)
    if att.copies and att.copies[0].notes:
        for note in att.copies[0].notes:
            console.print(f"  evidence: {note}")
    if att.unscored:
        console.print(
            f"{len(att.unscored)} copies have no customer hashes and were not scored: "
            + ", ".join(c.export_id for c in att.unscored)
        )
    aff = Table(title=f"Affected customers (first {min(top, len(result.affected))})")
    for col in ("customer id", "confidence", "rows", "matched on"):
        aff.add_column(col)
    for a in result.affected[:top]:
        aff.add_row(
            str(a.customer_id),
            f"{a.confidence:.3f}",
            ",".join(map(str, a.rows)),
            "; ".join(a.fields),
        )
    console.print(aff)


def write_customers_csv(result: TraceResult, path: str | Path) -> None:
    """The regulator-facing list: one line per affected customer, atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["customer_id", "confidence", "sample_rows", "matched_on"])
    for a in result.affected:
        w.writerow([a.customer_id, f"{a.confidence:.4f}", " ".join(map(str, a.rows)),
                    "; ".join(a.fields)])  # fmt: skip
    write_atomic(path, buf.getvalue())


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>leakwarden trace: {{ s.sample.path }}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}.v{font-weight:bold}</style>
</head><body>
<h1>Leak investigation</h1>
<p>Sample <code>{{ s.sample.path }}</code> ({{ s.sample.format }}), {{ s.sample.rows }} rows;
customer base {{ s.customer_base }} customers.</p>
<h2>Verdict: <span class="v">{{ s.attribution.verdict }}</span></h2>
<p>{{ s.attribution.reason }}</p>
<p>Model: other-route rate {{ s.attribution.model.other_route_rate }}, threshold
{{ s.attribution.model.threshold }}, {{ s.attribution.model.prior }};
evidence from {{ s.attribution.evidence_customers }} matched customers.
Posterior of "none of the copies": {{ s.attribution.none_of_the_copies_posterior }}.</p>
<h2>Export copies</h2>
<table><tr><th>export</th><th>recipient</th><th>requester</th><th>approvers</th><th>executed</th>
<th>customers</th><th>explained</th><th>exclusive</th><th>verbatim rows</th>
<th>canaries found</th><th>row order (ascending pairs)</th><th>formats seen</th><th>posterior</th>
<th>evidence</th></tr>
{% for c in s.attribution.copies %}<tr><td>{{ c.export_id }}</td><td>{{ c.recipient }}</td>
<td>{{ c.requester }}</td><td>{{ c.approvers|join(", ") }}</td><td>{{ c.executed_at }}</td>
<td>{{ c.customers }}</td><td>{{ c.explained_customers }}</td><td>{{ c.exclusive_customers }}</td>
<td>{{ c.verbatim_rows }}</td>
<td>{{ c.fingerprint.canaries_found }} of {{ c.fingerprint.canaries_registered }}</td>
<td>{% if c.fingerprint.order %}{{ c.fingerprint.order.ascents }} of
{{ c.fingerprint.order.pairs }}{% else %}-{% endif %}</td>
<td>{% for d, v in c.fingerprint.formats_seen.items() %}{{ d }}: {{ v }}
(copy: {{ c.fingerprint.formats_expected.get(d, "-") }}) {% endfor %}</td>
<td>{{ "%.9f"|format(c.posterior) }}</td>
<td>{{ c.evidence|join("; ") }}</td></tr>
{% endfor %}</table>
<h2>Affected customers: {{ s.affected.count }}</h2>
<table><tr><th>customer id</th><th>confidence</th><th>sample rows</th><th>matched on</th></tr>
{% for a in s.affected.customers %}<tr><td>{{ a.customer_id }}</td><td>{{ a.confidence }}</td>
<td>{{ a.rows|join(", ") }}</td><td>{{ a.fields|join("; ") }}</td></tr>
{% endfor %}</table>
<h2>Possible (below the confidence threshold, review before notifying): {{ s.possible|length }}</h2>
<table><tr><th>customer id</th><th>confidence</th><th>sample rows</th><th>matched on</th></tr>
{% for a in s.possible %}<tr><td>{{ a.customer_id }}</td><td>{{ a.confidence }}</td>
<td>{{ a.rows|join(", ") }}</td><td>{{ a.fields|join("; ") }}</td></tr>
{% endfor %}</table>
<p>Unexplained rows (no customer of ours): {{ s.unexplained_rows|length }}.</p>
<p>Canary rows (synthetic customers planted in export copies, not affected people):
{{ s.canary_rows|length }}{% if s.canary_rows %}: rows
{{ s.canary_rows|join(", ") }}{% endif %}.</p>
</body></html>
"""


def render_html(result: TraceResult) -> str:
    """The investigation report as one self-contained HTML page (values escaped)."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    return env.from_string(_HTML).render(s=to_json(result))
