"""A local stand-in for Microsoft Graph (identity providers) and the Entra token endpoint.

A product of its own: it imports nothing from the reconciler core (`idpctl.*` outside
`idpctl.emulator`).
"""
