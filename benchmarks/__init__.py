"""leakwarden's benchmarks: one command (``python -m benchmarks``) that measures the detector
against Microsoft Presidio's analyzer on the same generated corpus, in the same run.

Modules: ``values`` (seeded valid and near-miss values), ``corpus`` (mixed Chinese/English
documents with ground-truth spans), ``scoring`` (precision/recall per type), ``systems`` (the
two detectors and the type map between them), ``worker`` (one timed, pinned subprocess per
system), ``machine`` (what the figures were measured on), ``detect_vs_presidio`` (the run).
"""
