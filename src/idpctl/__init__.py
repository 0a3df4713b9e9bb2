"""idpctl: Microsoft Entra identity providers as code, reconciled through Microsoft Graph."""

__version__ = "0.1.0"
__all__ = ["__version__"]
