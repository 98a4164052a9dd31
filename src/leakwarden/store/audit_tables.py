"""Table models of the audit ledger (``leakwarden.audit``), on the store's one ``Base``.

Changes here need a migration (``0002_audit_ledger`` holds this module's tables).
"""

from __future__ import annotations
