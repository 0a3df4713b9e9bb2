"""The msal application each sign-in mode signs in through, and a person's sign-in.

`make_app(credential, ...)` builds it: msal's `ConfidentialClientApplication` (secret,
certificate, federated), its `ManagedIdentityClient`, or for a person at a terminal
`AzureCli` (`az account get-access-token`, as azure-identity's AzureCliCredential runs it) and
`DeviceCode` (msal's device-code flow, tokens kept in msal's cache file, mode 0600). msal's
HTTP goes through a requests session that applies `verify` and a timeout to every call.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from idpctl.errors import AuthError
from idpctl.graph.credentials import Credential
from idpctl.graph.tokens import describe_failure

if TYPE_CHECKING:
    import requests

__all__ = ["KNOWN_AUTHORITY_HOSTS", "AzureCli", "DeviceCode", "az_path", "make_app"]

KNOWN_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.microsoft.com",
        "login.windows.net",
    }
)


def make_app(
    cred: Credential,
    *,
    client_id: str | None,
    authority: str,
    verify: str | bool,
    env: Mapping[str, str],
) -> Any:
    if cred.mode == "azureCli":
        return AzureCli(tenant=authority.rstrip("/").rsplit("/", 1)[-1], env=env)
    import msal  # type: ignore[import-untyped]  # msal ships no type hints

    session = _session(verify)
    if cred.mode == "deviceCode":
        return DeviceCode(
            client_id=str(client_id),
            authority=authority,
            session=session,
            cache_path=str(cred.credential),
        )
    if cred.mode == "managedIdentity":
        identity = (
            msal.UserAssignedManagedIdentity(client_id=client_id)
            if client_id
            else msal.SystemAssignedManagedIdentity()
        )
        return msal.ManagedIdentityClient(identity, http_client=session)
    host = (urllib.parse.urlsplit(authority).hostname or "").lower()
    return msal.ConfidentialClientApplication(
        client_id,
        authority=authority,
        client_credential=cred.credential,
        instance_discovery=host in KNOWN_AUTHORITY_HOSTS,
        http_client=session,
    )


class AzureCli:
    """Tokens from the Azure CLI's login, one `az` run per resource, reused until five
    minutes before they expire. The command line is azure-identity's AzureCliCredential's:
    `az account get-access-token --output json --scope <resource>/.default --tenant <t>`."""

    TIMEOUT = 60.0

    def __init__(self, *, tenant: str, env: Mapping[str, str]) -> None:
        self.tenant, self.env = tenant, env
        self._cache: dict[str, dict[str, Any]] = {}

    def acquire(self, resource: str) -> dict[str, Any]:
        import time

        cached = self._cache.get(resource)
        if cached and cached["expires_on"] - 300 > time.time():
            return cached
        result = self._run(resource)
        self._cache[resource] = result
        return result

    def command(self, resource: str) -> list[str]:
        az = az_path(self.env)
        if not az:
            raise AuthError(
                "auth.mode azureCli: the Azure CLI (az) is not on PATH: install "
                "it and run `az login`, or choose another auth.mode"
            )
        command = [
            az,
            "account",
            "get-access-token",
            "--output",
            "json",
            "--scope",
            f"{resource}/.default",
        ]
        return [*command, "--tenant", self.tenant] if self.tenant else command

    def _run(self, resource: str) -> dict[str, Any]:
        import json
        import subprocess
        import time

        try:
            proc = subprocess.run(
                self.command(resource),
                capture_output=True,
                text=True,
                timeout=self.TIMEOUT,
                env=dict(self.env),
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise AuthError(
                f"auth.mode azureCli: az account get-access-token did not answer "
                f"in {self.TIMEOUT:g} s"
            ) from None
        if proc.returncode != 0:
            said = next(
                (line.strip() for line in proc.stderr.splitlines() if line.strip()),
                f"exit {proc.returncode}",
            )
            raise AuthError(
                f"auth.mode azureCli: az account get-access-token failed: "
                f"{said[:300]} (sign in with `az login --tenant {self.tenant}`)"
            )
        try:
            answer = json.loads(proc.stdout)
            token = str(answer["accessToken"])
        except (ValueError, KeyError, TypeError):
            raise AuthError(
                "auth.mode azureCli: az account get-access-token printed no access token"
            ) from None
        expires = answer.get("expires_on")
        expires_on = (
            float(expires)
            if isinstance(expires, int | float | str) and str(expires).replace(".", "", 1).isdigit()
            else time.time() + 300
        )
        return {"access_token": token, "expires_on": expires_on}


class DeviceCode:
    """A person's sign-in by msal's device-code flow: the cached account's token when msal
    has one (refreshed silently), else a code to enter in a browser (printed on stderr), then
    msal polls until the person has signed in. The cache is msal's, in a 0600 file."""

    def __init__(
        self,
        *,
        client_id: str,
        authority: str,
        session: Any,
        cache_path: str,
        prompt: Callable[[str], None] | None = None,
    ) -> None:
        import msal

        self.cache_path = cache_path
        self.cache = msal.SerializableTokenCache()
        if os.path.isfile(cache_path):
            with open(cache_path, encoding="utf-8") as handle:
                self.cache.deserialize(handle.read())
        host = (urllib.parse.urlsplit(authority).hostname or "").lower()
        self.app = msal.PublicClientApplication(
            client_id,
            authority=authority,
            token_cache=self.cache,
            http_client=session,
            instance_discovery=host in KNOWN_AUTHORITY_HOSTS,
        )
        self.prompt = prompt or _to_stderr

    def acquire(self, resource: str) -> Any:
        scopes = [f"{resource}/.default"]
        result = None
        for account in self.app.get_accounts():
            result = self.app.acquire_token_silent(scopes, account=account)
            if result:
                break
        if not result:
            flow = self.app.initiate_device_flow(scopes=scopes)
            if "user_code" not in flow:
                raise AuthError(f"auth.mode deviceCode: {describe_failure(flow)}")
            self.prompt(str(flow["message"]))
            result = self.app.acquire_token_by_device_flow(flow)
        self._save()
        return result

    def _save(self) -> None:
        if not self.cache.has_state_changed:
            return
        folder = os.path.dirname(self.cache_path)
        if folder:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        # never through a symlink, and 0600 even when the file was already there
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.cache_path, flags, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.cache.serialize())


def _to_stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def _session(verify: str | bool, timeout: float = 30.0) -> requests.Session:
    """A requests session for msal that applies `verify` and a timeout to every request:
    requests lets REQUESTS_CA_BUNDLE override a session's own `verify`, so set it per call."""
    import requests

    class Session(requests.Session):
        def request(
            self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
        ) -> requests.Response:
            kwargs.setdefault("verify", verify)
            kwargs.setdefault("timeout", timeout)
            return super().request(method, url, *args, **kwargs)

    return Session()


def az_path(env: Mapping[str, str]) -> str | None:
    """The Azure CLI on the PATH of `env` (none when `env` has no PATH)."""
    import shutil

    path = env.get("PATH")
    return shutil.which("az", path=path) if path else None
