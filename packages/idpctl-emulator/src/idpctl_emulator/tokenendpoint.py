"""The Entra token endpoint: `POST /<tenant>/oauth2/v2.0/token` (v1: `oauth2/token`).

`TokenEndpoint.answer(request, tenant, v1=...)` authenticates the client of a
client_credentials request - a client secret (form or HTTP Basic) or a signed client
assertion (assertions.py), never both - and answers with an access token minted by the
`IdentityService` (tokens.py), or with Entra's AADSTS error body (oauth.py). Device-code
grants go on to devicecode.py. Routing, tenants and discovery stay in tokens.py.
See docs/emulator-identity.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from idpctl_emulator import oauth, wire
from idpctl_emulator.assertions import AssertionChecker
from idpctl_emulator.clients import Client, secret_matches
from idpctl_emulator.oauth import TokenError

if TYPE_CHECKING:
    from idpctl_emulator.tokens import IdentityService

__all__ = ["MULTI_TENANT", "TokenEndpoint"]

log = logging.getLogger(__name__)

MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenEndpoint:
    """The token endpoint of one emulated tenant; `identity` mints what it hands out."""

    def __init__(
        self, identity: IdentityService, *, clock: Callable[[], float], ca_file: Path | None
    ) -> None:
        self._identity = identity
        self._clock = clock
        self._assertions = AssertionChecker(
            clock=clock,
            local_issuers=lambda: {identity.github.issuer: identity.github.jwks()},
            ca_file=ca_file,
        )

    def answer(self, request: wire.Request, tenant: str, *, v1: bool) -> wire.Response:
        try:
            if tenant.lower() in MULTI_TENANT:
                raise TokenError(
                    400,
                    "invalid_request",
                    50059,
                    "No tenant-identifying information found in either the request "
                    "or implied by any provided credentials.",
                )
            form = oauth.form_fields(request)
            from idpctl_emulator.devicecode import GRANTS

            if form.get("grant_type") in GRANTS and not v1:
                return self._identity.devices.token(request, form)
            client, acr = self._authenticate(request, form, tenant)
            resource = oauth.resource_of(form, v1=v1)
        except TokenError as exc:
            log.info("token request refused: AADSTS%s", exc.code)
            return oauth.aad_error(request, exc)
        token, expires_on = self._identity.issue(client, resource, appidacr=acr)
        payload = {
            "token_type": "Bearer",
            "expires_in": int(expires_on - self._clock()),
            "ext_expires_in": int(expires_on - self._clock()),
            "access_token": token,
        }
        return oauth.plain_json(
            200, payload, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        )

    def _authenticate(
        self, request: wire.Request, form: dict[str, str], tenant: str
    ) -> tuple[Client, str]:
        grant = form.get("grant_type")
        if not grant:
            raise oauth.missing("grant_type")
        if grant != "client_credentials":
            raise TokenError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        basic_id, basic_secret = oauth.basic_auth(request)
        client_id = form.get("client_id") or basic_id
        if not client_id:
            raise oauth.missing("client_id")
        client = self._identity.registry.get(client_id)
        if client is None:
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the "
                f"directory '{self._identity.tenant_id}'. This can happen if the application "
                "has not been installed by the administrator of the tenant.",
            )
        secret = form.get("client_secret") or basic_secret
        assertion = form.get("client_assertion")
        if secret and assertion:
            raise TokenError(
                400,
                "invalid_request",
                90015,
                "Requested query string is invalid: both a client secret and a "
                "client assertion were presented; send one credential.",
            )
        if assertion:
            if form.get("client_assertion_type") != _ASSERTION_TYPE:
                raise TokenError(
                    400,
                    "invalid_request",
                    7000211,
                    f"The 'client_assertion_type' parameter must be '{_ASSERTION_TYPE}'.",
                )
            self._assertions.check(client, assertion, audiences=self._token_urls(tenant))
            return client, "2"
        if secret:
            if not secret_matches(client, secret):
                raise TokenError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in "
                    "the request is the client secret value, not the client secret "
                    f"ID, for a secret added to app '{client_id}'.",
                )
            return client, "1"
        raise TokenError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: "
            "'client_assertion' or 'client_secret'.",
        )

    def _token_urls(self, tenant: str) -> set[str]:
        base = self._identity.base_url().rstrip("/")
        names = {tenant, self._identity.tenant_id}
        return {f"{base}/{n}/oauth2/{v}token" for n in names for v in ("v2.0/", "")}
