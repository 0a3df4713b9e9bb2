"""RSA signing keys for the tokens the emulator mints, published as a JWK set."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

if TYPE_CHECKING:
    from jwt.types import Options

__all__ = ["InvalidToken", "Signer", "b64url"]


class InvalidToken(Exception):
    """A token that is malformed, not signed by this key, or not from this issuer."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class Signer:
    """One RS256 key. `kid` doubles as the `x5t` value, as Entra's keys do."""

    key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def generate(cls) -> Signer:
        return cls._from_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """The key kept in `path` (PEM, 0600), made on first use, so that tokens survive a
        restart of the emulator."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(key, rsa.RSAPrivateKey):
                return cls._from_key(key)
        except (OSError, ValueError):
            pass
        signer = cls.generate()
        data = signer.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return signer

    @classmethod
    def _from_key(cls, key: rsa.RSAPrivateKey) -> Signer:
        der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(key, b64url(hashlib.sha1(der).digest()))

    def jwk(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _uint(numbers.n),
            "e": _uint(numbers.e),
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def sign(self, claims: dict[str, Any]) -> str:
        headers = {"typ": "JWT", "kid": self.kid, "x5t": self.kid}
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this key signed; time and audience are the caller's to check."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.kid or header.get("alg") != "RS256":
                raise InvalidToken("the token was not signed by this issuer's key")
            return jwt.decode(
                token, self.key.public_key(), algorithms=["RS256"], options=_NO_CLAIM_CHECKS
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(
                f"the token is malformed or its signature is invalid ({exc})"
            ) from None


_NO_CLAIM_CHECKS: Options = {
    "verify_aud": False,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_iss": False,
    "require": [],
}


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a JWT without checking anything; raises InvalidToken."""
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, json.JSONDecodeError, ValueError):
        raise InvalidToken("the token is not a well-formed JWT") from None
    return header, payload
