"""The emulator's Entra token endpoint and Graph's bearer check, over real HTTPS with real msal."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from idpctl_emulator import wire
from idpctl_emulator.certs import ensure_certificates
from idpctl_emulator.cli import EmulatorConfig, start
from idpctl_emulator.clients import DEFAULT_ROLES, ClientRegistry
from idpctl_emulator.signing import b64url
from idpctl_emulator.tokens import IdentityService

TENANT = "7d3c2f7e-51a4-4c4f-9a53-2a7f1d7f0b11"
GRAPH = "https://graph.microsoft.com/.default"
PROVIDERS = "/beta/identity/identityProviders"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Emu:
    base: str
    tenant: str
    ca: str
    identity: IdentityService
    http: httpx.Client

    @property
    def authority(self) -> str:
        return f"{self.base}/{self.tenant}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    def register(self, **spec: Any) -> str:
        spec.setdefault("clientId", str(uuid.uuid4()))
        response = self.http.post(f"{self.base}/_emulator/clients", json=spec)
        assert response.status_code == 201, response.text
        return spec["clientId"]

    def app(self, client_id: str, credential: Any, *, authority: str | None = None):
        return msal.ConfidentialClientApplication(
            client_id,
            authority=authority or self.authority,
            client_credential=credential,
            instance_discovery=False,
            verify=self.ca,
        )

    def token(self, client_id: str, credential: Any, scope: str = GRAPH) -> dict[str, Any]:
        return self.app(client_id, credential).acquire_token_for_client([scope])

    def post_token(self, **form: str) -> httpx.Response:
        form.setdefault("grant_type", "client_credentials")
        form.setdefault("scope", GRAPH)
        return self.http.post(self.token_url, data=form)

    def graph(self, token: str | None, method: str = "GET", **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, self.base + PROVIDERS, headers=headers, **kw)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    config = EmulatorConfig(
        tenant=TENANT,
        rate_limit=None,
        client_secret="unused-default",
        data_dir=tmp_path_factory.mktemp("emulator"),
    )
    running = start(config)
    thread = threading.Thread(
        target=running.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    ca = str(running.ca_path)
    # requests (msal's HTTP client) lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override `verify=`
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REQUESTS_CA_BUNDLE", ca)
        mp.delenv("CURL_CA_BUNDLE", raising=False)
        with httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=10) as http:
            yield Emu(running.base_url, running.tenant, ca, running.app.identity, http)
    running.stop()
    thread.join(timeout=5)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def aadsts(response: httpx.Response) -> int:
    body = response.json()
    assert set(body) >= {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
    }
    assert body["error_description"].startswith(f"AADSTS{body['error_codes'][0]}:")
    return body["error_codes"][0]


def make_cert(common_name: str = "idpctl-test") -> tuple[str, str, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode(), cert


def cert_assertion(
    key_pem: str, cert: x509.Certificate, client_id: str, aud: str, **overrides: Any
) -> str:
    now = int(time.time())
    claims = {
        "aud": aud,
        "iss": client_id,
        "sub": client_id,
        "jti": str(uuid.uuid4()),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    headers = {"x5t#S256": b64url(cert.fingerprint(hashes.SHA256()))}
    return jwt.encode(claims, key_pem, algorithm="PS256", headers=headers)


# -- discovery -----------------------------------------------------------------------------


def test_discovery_documents_point_at_the_emulator(emu: Emu) -> None:
    for tenant in (emu.tenant, "contoso.onmicrosoft.com"):
        doc = emu.http.get(f"{emu.base}/{tenant}/v2.0/.well-known/openid-configuration").json()
        assert doc["token_endpoint"] == emu.token_url
        assert doc["issuer"] == f"{emu.authority}/v2.0"
        keys = emu.http.get(doc["jwks_uri"]).json()["keys"]
        assert keys and keys[0]["kty"] == "RSA" and keys[0]["kid"]
    v1 = emu.http.get(f"{emu.authority}/.well-known/openid-configuration").json()
    assert v1["issuer"] == f"https://sts.windows.net/{emu.tenant}/"
    common = emu.http.get(f"{emu.base}/common/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == f"{emu.base}/{{tenantid}}/v2.0"


def test_unknown_tenant_is_refused_like_entra(emu: Emu) -> None:
    response = emu.http.get(f"{emu.base}/not-a-tenant/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_tenant" and aadsts(response) == 90002


def test_paths_that_are_not_identity_routes_are_left_to_the_server(emu: Emu) -> None:
    req = wire.Request("GET", "/v1.0/identity/identityProviders", {}, {})
    assert emu.identity.handle(req) is None


# -- client secret -------------------------------------------------------------------------


def test_msal_client_secret_flow_and_graph_accepts_the_token(emu: Emu) -> None:
    client = emu.register(secret="CANARY-secret-1")
    result = emu.token(client, "CANARY-secret-1")
    assert result["token_type"] == "Bearer" and 3000 < result["expires_in"] <= 3600
    claims = claims_of(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["iss"] == f"https://sts.windows.net/{emu.tenant}/"
    assert claims["tid"] == emu.tenant and claims["appid"] == client == claims["azp"]
    assert claims["roles"] == ["IdentityProvider.ReadWrite.All"]
    assert claims["exp"] - claims["iat"] == 3599 and claims["oid"]
    header = jwt.get_unverified_header(result["access_token"])
    assert header["alg"] == "RS256"
    assert emu.graph(result["access_token"]).status_code == 200


def test_msal_with_a_domain_name_authority(emu: Emu) -> None:
    client = emu.register(secret="CANARY-secret-2")
    app = emu.app(client, "CANARY-secret-2", authority=f"{emu.base}/contoso.onmicrosoft.com")
    result = app.acquire_token_for_client([GRAPH])
    assert claims_of(result["access_token"])["tid"] == emu.tenant


@pytest.mark.parametrize(
    ("form", "status", "error", "code"),
    [
        ({"client_secret": "CANARY-wrong"}, 401, "invalid_client", 7000215),
        ({}, 401, "invalid_client", 7000218),
        (
            {"client_secret": "CANARY-secret-3", "scope": "https://graph.microsoft.com/User.Read"},
            400,
            "invalid_scope",
            1002012,
        ),
        (
            {"client_secret": "CANARY-secret-3", "grant_type": "password"},
            400,
            "unsupported_grant_type",
            70003,
        ),
    ],
)
def test_token_endpoint_errors(
    emu: Emu, form: dict[str, str], status: int, error: str, code: int
) -> None:
    client = emu.register(secret="CANARY-secret-3")
    response = emu.post_token(client_id=client, **form)
    assert response.status_code == status
    assert response.json()["error"] == error and aadsts(response) == code
    assert "CANARY" not in response.text


def test_unknown_client_and_multi_tenant_authority(emu: Emu) -> None:
    response = emu.post_token(client_id=str(uuid.uuid4()), client_secret="x")
    assert response.status_code == 400 and aadsts(response) == 700016
    assert response.json()["error"] == "unauthorized_client"
    common = emu.http.post(
        f"{emu.base}/common/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "a",
            "client_secret": "b",
            "scope": GRAPH,
        },
    )
    assert common.status_code == 400 and aadsts(common) == 50059


def test_msal_reports_a_bad_secret(emu: Emu) -> None:
    client = emu.register(secret="CANARY-secret-4")
    result = emu.token(client, "CANARY-not-it")
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]


def test_storage_audience_token_has_the_v1_issuer_azurite_wants(emu: Emu) -> None:
    client = emu.register(secret="CANARY-secret-5")
    claims = claims_of(
        emu.token(client, "CANARY-secret-5", "https://storage.azure.com/.default")["access_token"]
    )
    assert claims["aud"] == "https://storage.azure.com"
    assert claims["iss"] == f"https://sts.windows.net/{emu.tenant}/"


def test_v1_token_endpoint_takes_a_resource(emu: Emu) -> None:
    client = emu.register(secret="CANARY-secret-8")
    v1 = emu.http.get(f"{emu.authority}/.well-known/openid-configuration").json()
    response = emu.http.post(
        v1["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_id": client,
            "client_secret": "CANARY-secret-8",
            "resource": "https://storage.azure.com/",
        },
    )
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["aud"] == "https://storage.azure.com"
    missing = emu.http.post(
        v1["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_id": client,
            "client_secret": "CANARY-secret-8",
        },
    )
    assert aadsts(missing) == 900144
    log = emu.http.get(f"{emu.base}/_emulator/requests").text
    assert "CANARY" not in log  # token request bodies are logged redacted


# -- certificate assertions ----------------------------------------------------------------


def test_msal_certificate_flows_sha256_and_sha1(emu: Emu) -> None:
    key_pem, cert_pem, cert = make_cert()
    client = emu.register(certificatePem=cert_pem)
    modern = emu.token(client, {"private_key": key_pem, "public_certificate": cert_pem})
    assert "access_token" in modern, modern
    assert claims_of(modern["access_token"])["appidacr"] == "2"
    legacy = emu.token(
        client, {"private_key": key_pem, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}
    )
    assert "access_token" in legacy, legacy


def test_certificate_assertion_failures(emu: Emu) -> None:
    key_pem, cert_pem, cert = make_cert()
    client = emu.register(certificatePem=cert_pem)
    now = int(time.time())

    def send(assertion: str) -> httpx.Response:
        return emu.post_token(
            client_id=client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
        )

    good = cert_assertion(key_pem, cert, client, emu.token_url)
    assert send(good).status_code == 200
    replay = send(good)
    assert replay.status_code == 401 and aadsts(replay) == 50013
    expired = send(
        cert_assertion(key_pem, cert, client, emu.token_url, exp=now - 900, nbf=now - 1800)
    )
    assert expired.status_code == 401 and aadsts(expired) == 700024
    wrong_aud = send(cert_assertion(key_pem, cert, client, "https://example.invalid/token"))
    assert aadsts(wrong_aud) == 700023
    other_key, _, other_cert = make_cert("other")
    assert aadsts(send(cert_assertion(other_key, other_cert, client, emu.token_url))) == 700027
    forged = jwt.encode(
        claims_of(cert_assertion(key_pem, cert, client, emu.token_url)),
        other_key,
        algorithm="PS256",
        headers={"x5t#S256": b64url(cert.fingerprint(hashes.SHA256()))},
    )
    assert aadsts(send(forged)) == 700027


# -- federated credentials -----------------------------------------------------------------


class Issuer:
    """A test OIDC issuer: its own RSA key, published as a JWK set."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwks = {"keys": [dict(jwk, kid="test-key", use="sig", alg="RS256")]}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.url,
            "sub": "system:serviceaccount:ci:idpctl",
            "aud": "api://AzureADTokenExchange",
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": str(uuid.uuid4()),
        }
        body.update(claims)
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": "test-key"})


def test_msal_federated_assertion_with_inline_jwks(emu: Emu) -> None:
    issuer = Issuer("https://oidc.ci.example/tenant-a")
    client = emu.register(
        federated=[
            {
                "issuer": issuer.url,
                "jwks": issuer.jwks,
                "subject": "system:serviceaccount:ci:idpctl",
            }
        ]
    )
    result = emu.token(client, {"client_assertion": issuer.token})
    claims = claims_of(result["access_token"])
    assert claims["appid"] == client and claims["appidacr"] == "2"
    assert emu.graph(result["access_token"]).status_code == 200
    # a federated token may be presented again (GitHub's are reused across requests)
    same = issuer.token(jti="same")
    for _ in range(2):
        assert "access_token" in emu.token(client, {"client_assertion": lambda: same})


def test_federated_assertion_failures(emu: Emu) -> None:
    issuer = Issuer("https://oidc.ci.example/tenant-b")
    client = emu.register(
        federated=[
            {
                "issuer": issuer.url,
                "subject": "repo:contoso/x:ref:main",
                "audience": "api://AzureADTokenExchange",
                "jwks": issuer.jwks,
            }
        ]
    )
    now = int(time.time())

    def send(assertion: str) -> httpx.Response:
        return emu.post_token(
            client_id=client, client_assertion_type=ASSERTION_TYPE, client_assertion=assertion
        )

    sub = "repo:contoso/x:ref:main"
    assert send(issuer.token(sub=sub)).status_code == 200
    assert aadsts(send(issuer.token(sub="repo:contoso/x:pull_request"))) == 700213
    assert aadsts(send(issuer.token(sub=sub, aud="api://other"))) == 700212
    assert aadsts(send(Issuer("https://evil.example").token(sub=sub))) == 700211
    assert aadsts(send(issuer.token(sub=sub, exp=now - 900, nbf=now - 1200))) == 700024
    stranger = Issuer(issuer.url)  # same issuer name, a key the emulator does not trust
    assert aadsts(send(stranger.token(sub=sub))) == 700027


@pytest.fixture
def jwks_server(emu: Emu, tmp_path: Path) -> Iterator[tuple[str, Issuer]]:
    """An HTTPS OIDC issuer on 127.0.0.1 (certificate from the emulator's CA)."""
    certs = ensure_certificates(Path(emu.ca).parent)
    box: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            issuer: Issuer = box["issuer"]
            doc = (
                {"issuer": issuer.url, "jwks_uri": issuer.url + "/keys"}
                if self.path.endswith("openid-configuration")
                else issuer.jwks
            )
            body = wire.json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    box["issuer"] = Issuer(f"https://127.0.0.1:{server.server_address[1]}/issuer")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box["issuer"].url, box["issuer"]
    server.shutdown()
    server.server_close()


def test_federated_keys_fetched_by_jwks_uri_and_by_discovery(emu: Emu, jwks_server) -> None:
    url, issuer = jwks_server
    by_uri = emu.register(federated=[{"issuer": url, "subject": "s", "jwksUri": url + "/keys"}])
    by_discovery = emu.register(federated=[{"issuer": url, "subject": "s"}])
    for client in (by_uri, by_discovery):
        result = emu.token(client, {"client_assertion": lambda: issuer.token(sub="s")})
        assert "access_token" in result, result


# -- Graph's bearer check ------------------------------------------------------------------


def graph_error(response: httpx.Response) -> str:
    body = response.json()["error"]
    assert set(body["innerError"]) >= {"date", "request-id", "client-request-id"}
    return body["code"]


def test_graph_rejects_missing_malformed_foreign_and_wrong_audience_tokens(emu: Emu) -> None:
    client = emu.register(secret="CANARY-secret-6")
    storage = emu.token(client, "CANARY-secret-6", "https://storage.azure.com/.default")
    foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode(
        claims_of(emu.token(client, "CANARY-secret-6")["access_token"]),
        foreign_key,
        algorithm="RS256",
    )
    for token in (None, "not-a-jwt", foreign, storage["access_token"]):
        response = emu.graph(token)
        assert response.status_code == 401, token
        assert graph_error(response) == "InvalidAuthenticationToken"
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("roles", "read", "write"),
    [
        ([], 403, 403),
        (["IdentityProvider.Read.All"], 200, 403),
        (["IdentityProvider.ReadWrite.All"], 200, 400),
    ],
)
def test_graph_roles(emu: Emu, roles: list[str], read: int, write: int) -> None:
    client = emu.register(secret="CANARY-secret-7", roles=roles)
    token = emu.token(client, "CANARY-secret-7")["access_token"]
    assert ("roles" in claims_of(token)) == bool(roles)
    got = emu.graph(token)
    assert got.status_code == read
    posted = emu.graph(token, "POST", json={})  # passes the check, then fails validation
    assert posted.status_code == write
    if write == 403:
        assert graph_error(posted) == "accessDenied"


def test_expired_token_is_401_and_verified_tokens_are_cached() -> None:
    now = [1_800_000_000.0]
    registry = ClientRegistry()
    registry.register({"clientId": "app", "secret": "CANARY-s"})
    service = IdentityService(
        tenant_id=TENANT,
        registry=registry,
        base_url_fn=lambda: "https://127.0.0.1:1",
        clock=lambda: now[0],
    )
    token, _ = service.issue(registry.get("app"), "https://graph.microsoft.com")
    request = wire.Request("GET", PROVIDERS, {}, {"authorization": f"Bearer {token}"})
    started = time.perf_counter()
    for _ in range(5000):
        assert service.authorize(request, write=True) is None
    assert time.perf_counter() - started < 2.0
    assert service.app_id(request) == "app"
    now[0] += 3600
    denied = service.authorize(request, write=False)
    assert denied is not None and denied.status == 401
    assert "expired" in denied.json()["error"]["message"]
    assert service.app_id(request) is None


# -- registry and certificates -------------------------------------------------------------


def test_registry_validation_and_secret_masking(tmp_path: Path) -> None:
    registry = ClientRegistry()
    shown = registry.register({"clientId": "a", "secret": "CANARY-reg"})
    assert "CANARY" not in repr(shown) + repr(registry.get("a")) + repr(registry.all())
    assert shown["hasSecret"] is True and tuple(shown["roles"]) == DEFAULT_ROLES
    for bad in (
        {},
        {"clientId": "a b"},
        {"clientId": "a", "roles": "x"},
        {"clientId": "a", "certificatePem": "nope"},
        {"clientId": "a", "federated": [{"issuer": "http://x", "subject": "s"}]},
        {"clientId": "a", "federated": [{"issuer": "https://x"}]},
        {"clientId": "a", "managedIdentity": "both"},
    ):
        with pytest.raises(ValueError):
            registry.register(bad)
    listed = tmp_path / "clients.yaml"
    listed.write_text("- {clientId: b, secret: x}\n- clientId: c\n  roles: []\n")
    mapped = tmp_path / "more.yaml"
    mapped.write_text(
        "clients:\n  - {clientId: d, federated: [{issuer: 'https://i', subject: s}]}\n"
    )
    registry.load_file(listed)
    registry.load_file(mapped)
    assert registry.get("c").roles == ()
    assert registry.get("d").federated[0].audiences == ("api://AzureADTokenExchange",)


def test_certificates_are_reused_and_private(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    stamp = first.server_cert.read_bytes()
    assert ensure_certificates(tmp_path) == first
    assert first.server_cert.read_bytes() == stamp
    assert first.server_key.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(stamp)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    first.server_cert.write_text("garbage")
    ca_before = first.ca_cert.read_bytes()
    again = ensure_certificates(tmp_path)
    assert again.server_cert.read_bytes() != b"garbage"
    assert again.ca_cert.read_bytes() == ca_before  # clients keep trusting the same CA


def test_a_ca_whose_key_does_not_match_its_certificate_is_made_again(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    first = ensure_certificates(tmp_path)
    ca_before = first.ca_cert.read_bytes()
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ca-key.pem").write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    again = ensure_certificates(tmp_path)
    assert again.ca_cert.read_bytes() != ca_before  # a CA that cannot sign is not kept
    ca = x509.load_pem_x509_certificate(again.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(again.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)


def test_a_kept_signing_key_lets_tokens_survive_a_restart(tmp_path: Path) -> None:
    registry = ClientRegistry()
    registry.register({"clientId": "app", "secret": "CANARY-k"})

    def service() -> IdentityService:
        return IdentityService(
            tenant_id=TENANT,
            registry=registry,
            base_url_fn=lambda: "https://127.0.0.1:1",
            signing_key=tmp_path / "signing-key.pem",
        )

    token, _ = service().issue(registry.get("app"), "https://graph.microsoft.com")
    request = wire.Request("GET", PROVIDERS, {}, {"authorization": f"Bearer {token}"})
    assert service().authorize(request, write=False) is None
    assert (tmp_path / "signing-key.pem").stat().st_mode & 0o777 == 0o600
