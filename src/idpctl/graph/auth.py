"""Signing in to Graph through msal, the way pipelines do it.

Modes (`auth.mode` in idpctl.yaml; `auto` takes the first configured, in this order):

    federated        an OIDC token as client assertion: read fresh from a file
                     (AZURE_FEDERATED_TOKEN_FILE, auth.federatedToken.file) or fetched from
                     GitHub Actions' token service (ACTIONS_ID_TOKEN_REQUEST_URL, or
                     auth.federatedToken.github), re-fetched when it nears expiry
    certificate      PEM (key + certificate) or PFX, sent as a signed assertion
    secret           a client secret (a reference, like every secret)
    managedIdentity  msal's managed identity client (IDENTITY_ENDPOINT or MSI_ENDPOINT set)
    azureCli         a person's Azure CLI login: `az account get-access-token --scope
                     <resource>/.default --tenant <tenant>`, as azure-identity's
                     AzureCliCredential runs it (`auto` takes it last, when `az` is on PATH)
    deviceCode       a person signs in with msal's device-code flow (a code to enter in a
                     browser anywhere), tokens kept in msal's cache file (auth.tokenCache,
                     default ~/.idpctl/msal-token-cache.json, mode 0600)

Settings default to the environment variables Azure tooling uses. Besides the Graph request
encoder this is the one place a secret is revealed: msal must hold the client secret or key.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from idpctl import redact
from idpctl.errors import AuthError
from idpctl.model import Secret, SecretRef
from idpctl.net import github_oidc
from idpctl.net.endpoints import Allowance, read_regular
from idpctl.secrets.context import SecretContext, context_for, resolve_ref
from idpctl.secrets.sources import settings_verify

__all__ = [
    "GRAPH_RESOURCE",
    "KNOWN_AUTHORITY_HOSTS",
    "MODES",
    "TokenProvider",
    "choose_mode",
    "decode_claims",
    "secret_context",
    "token_provider",
]

log = logging.getLogger(__name__)

GRAPH_RESOURCE = "https://graph.microsoft.com"
MODES = ("auto", "secret", "certificate", "federated", "managedIdentity", "azureCli",
         "deviceCode")
# a person's sign-in with no app registration of their own: azure-identity's default
# (DEVELOPER_SIGN_ON_CLIENT_ID, the Azure CLI's public client)
DEVELOPER_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
# modes that sign in as no app registration of the user's: no client id needed
_NO_CLIENT_ID = ("managedIdentity", "azureCli")
KNOWN_AUTHORITY_HOSTS = frozenset({
    "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn", "login.microsoft.com", "login.windows.net",
})
GITHUB_AUDIENCE = "api://AzureADTokenExchange"


@dataclass(frozen=True)
class Credential:
    """What a chosen mode hands to msal. `credential` is never logged or shown."""

    mode: str  # secret | certificate | federated | managedIdentity
    detail: str  # value-free: "env:AZURE_CLIENT_SECRET", "file:/var/run/...", "github"
    credential: Any = None
    secrets: tuple[str, ...] = ()  # values to scrub from msal's error text


class TokenProvider:
    """Access tokens for one signed-in identity, cached by msal. Thread-safe."""

    def __init__(self, *, mode: str, detail: str, client_id: str | None, tenant: str,
                 make_app: Callable[[], Any], secrets: tuple[str, ...] = ()) -> None:
        self.mode = mode
        self.detail = detail
        self.client_id = client_id
        self.tenant = tenant
        self._make_app = make_app
        self._app: Any = None
        self._secrets = secrets
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenProvider(mode={self.mode!r}, client_id={self.client_id!r})"

    def token(self, resource: str = GRAPH_RESOURCE) -> str:
        """A bearer token for `resource` (e.g. https://graph.microsoft.com)."""
        with self._lock:
            try:
                if self._app is None:
                    self._app = self._make_app()
                result = self._acquire(resource.rstrip("/"))
            except AuthError:
                raise
            except Exception as error:  # msal and requests raise many kinds
                raise AuthError(self._scrub(
                    f"sign-in failed ({self.mode}): {type(error).__name__}: {error}")) from None
        if isinstance(result, dict) and result.get("access_token"):
            token = str(result["access_token"])
            redact.register(token)
            return token
        raise AuthError(self._scrub(f"sign-in failed ({self.mode}, client "
                                    f"{self.client_id or 'managed identity'}): "
                                    f"{describe_failure(result)}"))

    def claims(self, token: str | None = None) -> dict[str, Any]:
        """The claims of `token` (default: a fresh Graph token), decoded WITHOUT verifying."""
        return decode_claims(token if token is not None else self.token())

    def _acquire(self, resource: str) -> Any:
        if self.mode in ("azureCli", "deviceCode"):
            return self._app.acquire(resource)
        if self.mode == "managedIdentity":
            return self._app.acquire_token_for_client(resource=resource)
        return self._app.acquire_token_for_client(scopes=[f"{resource}/.default"])

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            redact.register(secret)
        return redact.shorten(text, 500)


def describe_failure(result: Any) -> str:
    """msal's error answer as one line: `AADSTS7000215: Invalid client secret provided.`"""
    if not isinstance(result, Mapping):
        return "no token in the answer"
    text = redact.scrub(str(result.get("error_description") or result.get("error") or "no token"))
    first = text.strip().splitlines()[0] if text.strip() else "no token"
    codes = result.get("error_codes") or []
    if codes and "AADSTS" not in first:
        first = f"AADSTS{codes[0]}: {first}"
    for marker in (" Trace ID:", " Trace ID"):
        first = first.split(marker)[0]
    return first.strip()


def decode_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, not verified (for whoami and permission checks only)."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise AuthError(f"the access token is not a readable JWT ({error})") from None
    return dict(claims)


def token_provider(
    settings_auth: Mapping[str, Any] | None,
    *,
    tenant: str,
    authority_root: str,
    verify: str | bool = True,
    env: Mapping[str, str] | None = None,
    secret_context: Any = None,
    allowance: Allowance | None = None,
) -> TokenProvider:
    """A TokenProvider for the `auth:` block of idpctl.yaml (None: environment only).
    `secret_context` (a `secrets.SecretContext`) resolves `{vault: ...}`/`{keyVault: ...}`
    references; env/file ones need none. Nothing is sent until the first `token()`.
    `allowance` (default: the process environment's) lets a non-https OIDC request URL
    through."""
    env = os.environ if env is None else env
    allowance = allowance if allowance is not None else Allowance.from_sources()
    if secret_context is None:
        secret_context = SecretContext(env=env)
    auth = dict(settings_auth or {})
    tenant = tenant or env.get("AZURE_TENANT_ID", "")
    if not tenant:
        raise AuthError("no tenant: set `tenant` in idpctl.yaml or AZURE_TENANT_ID")
    mode = choose_mode(auth, env)
    client_id = _text(auth.get("clientId"), "auth.clientId", secret_context) or env.get(
        "AZURE_CLIENT_ID")
    if mode == "managedIdentity":
        client_id = _text(auth.get("managedIdentityClientId"), "auth.managedIdentityClientId",
                          secret_context)
    elif mode == "azureCli":
        client_id = None  # the CLI's own sign-in
    elif mode == "deviceCode":
        client_id = client_id or DEVELOPER_CLIENT_ID
    elif not client_id:
        raise AuthError("no client id: set auth.clientId in idpctl.yaml or AZURE_CLIENT_ID")
    cred = _credential(mode, auth, env, verify=verify, ctx=secret_context, allowance=allowance)
    authority = f"{authority_root.rstrip('/')}/{tenant}"
    log.debug("signing in: mode=%s (%s) client=%s authority=%s", mode, cred.detail, client_id,
              authority)
    return TokenProvider(
        mode=mode, detail=cred.detail, client_id=client_id, tenant=tenant, secrets=cred.secrets,
        make_app=lambda: _make_app(cred, client_id=client_id, authority=authority,
                                            verify=verify, env=env))


def choose_mode(auth: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The mode asked for, or for `auto` the first one configured (see the module doc)."""
    mode = auth.get("mode") or "auto"
    if mode not in MODES:
        raise AuthError(f"auth.mode {mode!r} is not one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    federated = auth.get("federatedToken") or {}
    if env.get("AZURE_FEDERATED_TOKEN_FILE") or _get(federated, "file"):
        return "federated"
    if env.get("ACTIONS_ID_TOKEN_REQUEST_URL") or _get(federated, "github"):
        return "federated"
    if env.get("AZURE_CLIENT_CERTIFICATE_PATH") or _configured(auth.get("certificate"), env):
        return "certificate"
    if env.get("AZURE_CLIENT_SECRET") or _configured(auth.get("clientSecret"), env):
        return "secret"
    if env.get("IDENTITY_ENDPOINT") or env.get("MSI_ENDPOINT"):
        return "managedIdentity"
    if _az(env):  # a person at a terminal: the Azure CLI login, after every pipeline credential
        return "azureCli"
    raise AuthError(
        "no sign-in configured: set auth in idpctl.yaml, or AZURE_CLIENT_ID with one of "
        "AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_SECRET "
        "(or run in GitHub Actions with id-token: write, or with a managed identity, or sign "
        "in with `az login`)")


def _az(env: Mapping[str, str]) -> str | None:
    """The Azure CLI on the PATH of `env` (none when `env` has no PATH)."""
    import shutil

    path = env.get("PATH")
    return shutil.which("az", path=path) if path else None


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def _configured(value: Any, env: Mapping[str, str]) -> bool:
    """Set in the file; an `{env: NAME}` reference counts only when NAME is set, so the
    default `clientSecret: {env: AZURE_CLIENT_SECRET}` does not shadow later modes."""
    if value is None or value == "" or value == {}:
        return False
    if isinstance(value, SecretRef) and value.scheme == "env":
        return bool(env.get(str(value.spec)))
    return True


# -- the credential of each mode ---------------------------------------------------------------


def _credential(mode: str, auth: Mapping[str, Any], env: Mapping[str, str], *,
                verify: str | bool, ctx: Any, allowance: Allowance) -> Credential:
    if mode == "secret":
        ref = auth.get("clientSecret")
        value = _reveal(ref, "auth.clientSecret", ctx) if ref is not None else None
        if value is None:
            value = env.get("AZURE_CLIENT_SECRET") or None
            if value is None:
                raise AuthError("auth.mode secret: no clientSecret and AZURE_CLIENT_SECRET unset")
        detail = ref.describe() if isinstance(ref, SecretRef) else "env:AZURE_CLIENT_SECRET"
        return Credential("secret", detail, value, (value,))
    if mode == "certificate":
        return _certificate(auth.get("certificate"), env, ctx)
    if mode == "federated":
        return _federated(auth.get("federatedToken"), env, verify=verify, allowance=allowance)
    if mode == "azureCli":
        return Credential("azureCli", "Azure CLI login")
    if mode == "deviceCode":
        cache = auth.get("tokenCache") or os.path.join(os.path.expanduser("~"), ".idpctl",
                                                       "msal-token-cache.json")
        return Credential("deviceCode", f"device code, cache {cache}", str(cache))
    return Credential("managedIdentity", "managed identity")


def _make_app(cred: Credential, *, client_id: str | None, authority: str, verify: str | bool,
              env: Mapping[str, str]) -> Any:
    if cred.mode == "azureCli":
        return AzureCli(tenant=authority.rstrip("/").rsplit("/", 1)[-1], env=env)
    import msal

    session = _session(verify)
    if cred.mode == "deviceCode":
        return DeviceCode(client_id=str(client_id), authority=authority, session=session,
                          cache_path=str(cred.credential))
    if cred.mode == "managedIdentity":
        identity = (msal.UserAssignedManagedIdentity(client_id=client_id) if client_id
                    else msal.SystemAssignedManagedIdentity())
        return msal.ManagedIdentityClient(identity, http_client=session)
    host = (urllib.parse.urlsplit(authority).hostname or "").lower()
    return msal.ConfidentialClientApplication(
        client_id, authority=authority, client_credential=cred.credential,
        instance_discovery=host in KNOWN_AUTHORITY_HOSTS, http_client=session,
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
        az = _az(self.env)
        if not az:
            raise AuthError("auth.mode azureCli: the Azure CLI (az) is not on PATH: install "
                            "it and run `az login`, or choose another auth.mode")
        command = [az, "account", "get-access-token", "--output", "json",
                   "--scope", f"{resource}/.default"]
        return [*command, "--tenant", self.tenant] if self.tenant else command

    def _run(self, resource: str) -> dict[str, Any]:
        import json
        import subprocess
        import time

        try:
            proc = subprocess.run(self.command(resource), capture_output=True, text=True,
                                  timeout=self.TIMEOUT, env=dict(self.env), check=False,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise AuthError(f"auth.mode azureCli: az account get-access-token did not answer "
                            f"in {self.TIMEOUT:g} s") from None
        if proc.returncode != 0:
            said = next((line.strip() for line in proc.stderr.splitlines() if line.strip()),
                        f"exit {proc.returncode}")
            raise AuthError(f"auth.mode azureCli: az account get-access-token failed: "
                            f"{said[:300]} (sign in with `az login --tenant {self.tenant}`)")
        try:
            answer = json.loads(proc.stdout)
            token = str(answer["accessToken"])
        except (ValueError, KeyError, TypeError):
            raise AuthError("auth.mode azureCli: az account get-access-token printed no "
                            "access token") from None
        expires = answer.get("expires_on")
        expires_on = float(expires) if isinstance(expires, int | float | str) and \
            str(expires).replace(".", "", 1).isdigit() else time.time() + 300
        return {"access_token": token, "expires_on": expires_on}


class DeviceCode:
    """A person's sign-in by msal's device-code flow: the cached account's token when msal
    has one (refreshed silently), else a code to enter in a browser (printed on stderr), then
    msal polls until the person has signed in. The cache is msal's, in a 0600 file."""

    def __init__(self, *, client_id: str, authority: str, session: Any, cache_path: str,
                 prompt: Callable[[str], None] | None = None) -> None:
        import msal

        self.cache_path = cache_path
        self.cache = msal.SerializableTokenCache()
        if os.path.isfile(cache_path):
            with open(cache_path, encoding="utf-8") as handle:
                self.cache.deserialize(handle.read())
        host = (urllib.parse.urlsplit(authority).hostname or "").lower()
        self.app = msal.PublicClientApplication(
            client_id, authority=authority, token_cache=self.cache, http_client=session,
            instance_discovery=host in KNOWN_AUTHORITY_HOSTS)
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


def _session(verify: str | bool, timeout: float = 30.0) -> Any:
    """A requests session for msal that applies `verify` and a timeout to every request:
    requests lets REQUESTS_CA_BUNDLE override a session's own `verify`, so set it per call."""
    import requests

    class Session(requests.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("verify", verify)
            kwargs.setdefault("timeout", timeout)
            return super().request(method, url, *args, **kwargs)

    return Session()


def secret_context(settings: Any, *, env: Mapping[str, str] | None = None) -> SecretContext:
    """The `SecretContext` for loaded settings whose Key Vault tokens come from signing in as
    `settings.auth` says, on first use only (a run without `{keyVault:}` references never
    signs in for them). Settings without a tenant and authority get no Key Vault sign-in."""
    if not getattr(settings, "tenant", None) or not getattr(settings, "authority", None):
        return context_for(settings, env=env)
    return context_for(settings, env=env, tokens=_FirstUse(settings, env=env))


class _FirstUse:
    """A `secrets.TokenProvider` made from `settings.auth` at its first `token()` call."""

    def __init__(self, settings: Any, *, env: Mapping[str, str] | None) -> None:
        self._settings = settings
        self._env = env
        self._provider: TokenProvider | None = None

    def token(self, resource: str) -> str:
        if self._provider is None:
            settings = self._settings
            self._provider = token_provider(
                getattr(settings, "auth", None), tenant=settings.tenant,
                authority_root=settings.authority, verify=settings_verify(settings),
                env=self._env)
        return self._provider.token(resource)


def _text(value: Any, where: str, ctx: Any) -> str | None:
    """A plain setting that may be written as a reference (clientId: {env: AZURE_CLIENT_ID})."""
    if value is None or isinstance(value, str):
        return value or None
    return _reveal(value, where, ctx)


def _reveal(value: Any, where: str, ctx: Any) -> str:
    if isinstance(value, SecretRef):
        value = resolve_ref(value, context=ctx)
    if isinstance(value, Secret):
        return value.reveal()  # msal must be handed the credential itself
    if isinstance(value, str) and value:
        return value
    raise AuthError(f"{where} must be a reference such as {{env: NAME}} or {{file: PATH}}")


def _certificate(spec: Any, env: Mapping[str, str], ctx: Any) -> Credential:
    """PEM (private key + certificate) or PFX, loaded with cryptography into msal's form."""
    if isinstance(spec, str):
        spec = {"path": spec}
    spec = dict(spec or {})
    path = spec.get("path") or env.get("AZURE_CLIENT_CERTIFICATE_PATH")
    if not path:
        raise AuthError("auth.mode certificate: no certificate path (auth.certificate.path or "
                        "AZURE_CLIENT_CERTIFICATE_PATH)")
    password = spec.get("password")
    if password is not None:
        password = _reveal(password, "auth.certificate.password", ctx)
    else:
        password = env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None
    key_pem, cert_pem = load_certificate(str(path), password)
    secrets = (key_pem, password) if password else (key_pem,)
    return Credential("certificate", f"file:{path}",
                      {"private_key": key_pem, "public_certificate": cert_pem}, secrets)


def load_certificate(path: str, password: str | None) -> tuple[str, str]:
    """(unencrypted PKCS#8 private key PEM, certificate PEM) from a PEM or PFX file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        data = read_regular(path, limit=1024 * 1024)  # a FIFO is refused, not waited on
    except OSError as error:
        raise AuthError(f"cannot read certificate {path}: {error.strerror}") from None
    secret = password.encode("utf-8") if password else None
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(_pem_block(data, b"PRIVATE KEY"), secret)
            cert = x509.load_pem_x509_certificate(_pem_block(data, b"CERTIFICATE"))
        else:
            key, cert, _ = pkcs12.load_key_and_certificates(data, secret)
    except (ValueError, TypeError) as error:
        reason = "wrong or missing password" if "password" in str(error).lower() else "unreadable"
        raise AuthError(f"certificate {path}: {reason} (PEM with key and certificate, or PFX)"
                        ) from None
    if key is None or cert is None:
        raise AuthError(f"certificate {path} must hold both the private key and the certificate")
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _pem_block(data: bytes, label: bytes) -> bytes:
    """The first PEM block whose label ends with `label` (any key type, encrypted or not)."""
    for block in data.split(b"-----END ")[:-1]:
        start = block.rfind(b"-----BEGIN ")
        header = block[start:].split(b"\n", 1)[0]
        if start >= 0 and header.rstrip(b"- \r").endswith(label):
            tail = block[start + 11:].split(b"-----", 1)[0]
            return block[start:] + b"-----END " + tail + b"-----\n"
    raise ValueError(f"no {label.decode()} block")


def _federated(spec: Any, env: Mapping[str, str], *, verify: str | bool,
               allowance: Allowance) -> Credential:
    spec = dict(spec) if isinstance(spec, Mapping) else {}
    # what the file asks for wins over the environment; `github: true` skips a token file
    path = spec.get("file") or (None if spec.get("github") else
                                env.get("AZURE_FEDERATED_TOKEN_FILE"))
    if path:
        return Credential("federated", f"file:{path}",
                          {"client_assertion": FileAssertion(str(path))})
    try:  # the request token is a credential: never over plain http
        request = github_oidc.request_from_env(env, allowance=allowance)
    except github_oidc.TokenServiceError as error:
        raise AuthError(str(error)) from None
    if request is None:
        raise AuthError("auth.mode federated: no token file (AZURE_FEDERATED_TOKEN_FILE) and no "
                        "GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN; the workflow "
                        "needs `permissions: id-token: write`)")
    assertion = GitHubAssertion(request.url, request.bearer, verify=verify)
    return Credential("federated", "github", {"client_assertion": assertion}, (request.bearer,))


class FileAssertion:
    """The client assertion read afresh from a file on each call (the platform rotates it)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self) -> str:
        try:
            token = read_regular(self.path, limit=64 * 1024).decode("utf-8", "replace").strip()
        except OSError as error:
            raise AuthError(f"cannot read federated token file {self.path}: {error.strerror}"
                            ) from None
        if not token:
            raise AuthError(f"federated token file {self.path} is empty")
        redact.register(token)
        return token


class GitHubAssertion:
    """An OIDC token from GitHub Actions' token service, re-fetched when near expiry."""

    def __init__(self, url: str, bearer: str, *, verify: str | bool, margin: float = 60.0) -> None:
        self._request = github_oidc.TokenRequest(url, bearer)  # registers the bearer
        self._verify = verify
        self._margin = margin
        self._token: str | None = None
        self._expires = 0.0

    def __repr__(self) -> str:
        return "GitHubAssertion(...)"

    def __call__(self) -> str:
        import time

        if self._token is None or time.time() > self._expires - self._margin:
            self._token = self._fetch()
            exp = decode_claims(self._token).get("exp")
            self._expires = float(exp) if isinstance(exp, int | float) else 0.0
        return self._token

    def _fetch(self) -> str:
        try:
            return github_oidc.fetch_token(self._request, audience=GITHUB_AUDIENCE,
                                           verify=self._verify)
        except github_oidc.TokenServiceError as error:
            raise AuthError(str(error)) from None
