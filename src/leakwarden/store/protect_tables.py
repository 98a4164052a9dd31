"""Table models of de-identification (``leakwarden.protect``): key ring and token vault.

Changes here need a migration (``0003_protect_keys_vault`` holds this module's tables).
"""

from __future__ import annotations
