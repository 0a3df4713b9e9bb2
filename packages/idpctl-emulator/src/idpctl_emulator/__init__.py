"""A local stand-in for Microsoft Graph (identity providers) and the Entra token endpoint.

A distribution of its own (`idpctl-emulator`): it imports nothing from idpctl, and idpctl finds
it only through the `idpctl.verbs` entry point (`idpctl emulator`). `python -m idpctl_emulator`
runs it without idpctl installed.
"""

__version__ = "0.1.0"
