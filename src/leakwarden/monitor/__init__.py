"""Insider-exfiltration monitoring over the audit ledger: features, baselines, scoring, alerts,
and the scenario simulator used to evaluate them."""
