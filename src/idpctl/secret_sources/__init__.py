"""Secret sources that need a network: HashiCorp Vault / OpenBao KV v2 and Azure Key Vault.

Each source returns `(value, version)` or raises `idpctl.secrets.SourceError` with a
value-free reason; `idpctl.secrets.Resolver` names the reference and where it is used.
"""

from __future__ import annotations

__all__: list[str] = []
