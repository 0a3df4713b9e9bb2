"""idpctl.net.tls: the one CA-bundle -> SSL context builder."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idpctl.net import tls


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idpctl test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _subjects(context: ssl.SSLContext) -> list[str]:
    return [dict(x[0] for x in c["subject"]).get("commonName", "") for c in context.get_ca_certs()]


def _verifying(context: ssl.SSLContext) -> bool:
    return context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_a_bundle_replaces_the_system_store(bundle: Path) -> None:
    for given in (bundle, str(bundle)):
        context = tls.ssl_context(given)
        assert _subjects(context) == ["idpctl test CA"] and _verifying(context)


def test_a_bundle_adds_to_the_system_store_for_discovery(bundle: Path) -> None:
    system = tls.ssl_context()
    both = tls.ssl_context(bundle, system=True)
    assert _verifying(system) and _verifying(both)
    assert sorted(_subjects(both)) == sorted([*_subjects(system), "idpctl test CA"])


def test_verify_turns_a_path_into_a_context_and_passes_the_rest(bundle: Path) -> None:
    assert tls.verify(True) is True and tls.verify(False) is False
    given = ssl.create_default_context()
    assert tls.verify(given) is given
    for path in (bundle, str(bundle)):
        built = tls.verify(path)
        assert isinstance(built, ssl.SSLContext) and _subjects(built) == ["idpctl test CA"]


def test_an_unreadable_bundle_raises_for_the_caller_to_word(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        tls.verify(str(tmp_path / "missing.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ssl.SSLError):
        tls.ssl_context(tmp_path / "junk.pem", system=True)


def test_bundle_verify_is_the_path_or_the_system_store(bundle: Path) -> None:
    assert tls.bundle_verify(bundle) == str(bundle)
    assert tls.bundle_verify(None) is True
