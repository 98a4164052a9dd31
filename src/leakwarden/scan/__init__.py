"""Discovery scanning: find which file, table, column or field holds which personal information.

``scan`` owns the readers for files (CSV/TSV, JSON/JSONL, Parquet, XLSX, text and logs, ``.gz``,
directory trees) and SQL databases, the sampling, the per-column classifier and the reports.
It talks to ``detect`` (the engine and the type registry) and hands ``store.records`` results
to ``store.inventory``.  Heavy libraries are imported inside the functions that need them.

Entry points: :func:`leakwarden.scan.scanner.scan_sources` (library) and the ``leakwarden scan``
/ ``leakwarden inventory`` commands in :mod:`leakwarden.scan.command`.
"""
