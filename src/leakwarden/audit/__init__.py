"""The tamper-evident audit ledger: every access to personal information, in an append-only
RFC 9162 Merkle log with signed checkpoints published outside the database.

- :mod:`leakwarden.audit.events`: the event model and its ECS-named, canonical JSON form.
- :mod:`leakwarden.audit.ledger`: durable, concurrent appends (group commit) and reads.
- :mod:`leakwarden.audit.merkle`: RFC 9162 hashing, inclusion and consistency proofs.
- :mod:`leakwarden.audit.note`: C2SP signed notes, Ed25519 keys, tlog checkpoints.
- :mod:`leakwarden.audit.verify`: the whole-log check that pinpoints the first bad entry.
- :mod:`leakwarden.audit.standalone`: a one-file verifier for outside auditors.
- :mod:`leakwarden.audit.export`: JSON lines and syslog/CEF for a SIEM.
- :mod:`leakwarden.audit.command`: ``leakwarden audit ...``.
"""
