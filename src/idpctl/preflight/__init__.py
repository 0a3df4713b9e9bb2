"""Checks before apply: the issuers' discovery documents, tenant capabilities, permissions."""
