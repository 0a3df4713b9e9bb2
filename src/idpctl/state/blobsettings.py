"""The Blob state store a `state:` block in idpctl.yaml names, its secrets resolved.

    state: {backend: azureblob, container: idpctl, blob: prod.json,
            connectionString: {env: AZURE_STORAGE_CONNECTION_STRING}}       # Shared Key
    state: {backend: azureblob, url: https://acct.blob.core.windows.net, container: ..., blob: ...,
            sasToken: {env: IDPCTL_STATE_SAS}}                               # SAS
    state: {backend: azureblob, url: https://acct.blob.core.windows.net, container: ..., blob: ...}
                                                 # an Entra token from idpctl's own sign-in

The connection string and SAS token are secret references, resolved here; the account URL,
which receives the token or signature, is checked against the cloud's blob endpoints or the
operator's allowance before any request. The store itself is `state.azureblob`'s.
Internal: no stable Python API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from idpctl.errors import ConfigError
from idpctl.graph.storage_auth import Bearer, Sas, parse_connection_string
from idpctl.model import Secret, SecretRef
from idpctl.net import tls
from idpctl.state.azureblob import AzureBlobStateStore

__all__ = ["STORAGE_RESOURCE", "from_settings"]

STORAGE_RESOURCE = "https://storage.azure.com"


def from_settings(
    spec: Mapping[str, Any],
    *,
    settings: Any = None,
    token: Callable[[], str] | None = None,
) -> AzureBlobStateStore:
    """The store a `state: {backend: azureblob, ...}` block names. Secret values come
    from references; without a connection string or SAS, idpctl's own sign-in supplies a
    token for Azure Storage (`token`, or one made from `settings`)."""
    container, blob = spec.get("container"), spec.get("blob")
    if not container or not blob:
        raise ConfigError("state: backend azureblob needs container and blob")
    verify = tls.bundle_verify(getattr(settings, "ca_bundle", None))
    timeout = float(getattr(settings, "timeout", 30.0) or 30.0)
    if spec.get("connectionString") is not None:
        text = _reveal(spec["connectionString"], settings).reveal()
        url, auth = parse_connection_string(text)
    elif spec.get("url"):
        url = str(spec["url"]).rstrip("/")
        if spec.get("sasToken") is not None:
            auth = Sas(_reveal(spec["sasToken"], settings))
        else:
            auth = Bearer(token or _storage_token(settings))
    else:
        raise ConfigError("state: backend azureblob needs url or connectionString")
    _check_endpoint(url, settings)
    return AzureBlobStateStore(
        account_url=url,
        container=str(container),
        blob=str(blob),
        auth=auth,
        verify=verify,
        timeout=timeout,
    )


def _reveal(value: Any, settings: Any) -> Secret:
    """A `Secret` from a settings value: a reference (resolved), a Secret, or plain text."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, SecretRef):
        from idpctl.graph import auth
        from idpctl.secrets import context as secrets

        context = auth.secret_context(settings) if settings is not None else None
        return secrets.resolve_ref(value, context=context)
    if isinstance(value, str):
        return Secret(value, source="settings")
    raise ConfigError("state: connectionString and sasToken must be secret references")


def _check_endpoint(url: str, settings: Any) -> None:
    """The account URL receives a storage token, SAS or shared-key signature: https on the
    cloud's blob endpoints, or in the operator's allowance (a connection string's endpoint is
    known only here, after it is resolved)."""
    from idpctl.net.endpoints import CLOUDS, Allowance, check_url

    cloud = CLOUDS.get(getattr(settings, "cloud", "global"), CLOUDS["global"])
    allowance = getattr(settings, "allowance", None) or Allowance.from_sources()
    reason = check_url(
        url, what="the state account URL", suffixes=cloud.blob_suffixes, allowance=allowance
    )
    if reason:
        raise ConfigError(f"state: {reason}")


def _storage_token(settings: Any) -> Callable[[], str]:
    if settings is None:
        raise ConfigError("state: backend azureblob with url only needs idpctl's sign-in")
    from idpctl.graph import auth

    verify = tls.bundle_verify(settings.ca_bundle)
    provider = auth.token_provider(
        settings.auth, tenant=settings.tenant, authority_root=settings.authority, verify=verify
    )
    return lambda: provider.token(STORAGE_RESOURCE)
