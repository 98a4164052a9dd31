"""The protect benchmark's harness on a tiny CSV and table (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.column_scan import write_csv
from benchmarks.protect_rewrite import load_sqlite, make_store, markdown, worker


def test_harness_runs_on_small_inputs(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    src = tmp_path / "c.csv"
    n = write_csv(src, 50_000)
    res = worker("csv", str(src), store, str(tmp_path / "o.csv"))
    assert res["rows_done"] == n
    columns = {c["column"]: c for c in res["columns"]}
    assert set(columns) == {"name", "mobile", "email", "id_number", "card_number"}
    assert all(c["protected"] + c["bad"] == n for c in columns.values())
    load_sqlite(tmp_path / "t.db", "t", 300)
    res_t = worker("table", f"sqlite:///{tmp_path / 't.db'}", store, "t", "mask")
    assert res_t["rows_done"] == 300 and res_t["peak_rss_mib"] > 0
    keys = ("cpu_model", "logical_cores", "usable_cores", "load_average_at_start", "python")
    result = {
        "machine": dict.fromkeys((*keys, "git_commit", "date_utc"), "x"),
        "command": "python -m benchmarks.protect_rewrite",
        "method": "m",
        "rules_csv": ["a"],
        "rules_table": ["b"],
        "cases": [{**res, "source": "csv", "bytes": 50_000, "rows": n}],
    }
    assert "| csv | 0 MB |" in markdown(result)
