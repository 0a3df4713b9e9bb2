"""The device authorization grant (a person signs in on another device), as Entra serves it.

    POST /<tenant>/oauth2/v2.0/devicecode   client_id, scope -> device_code, user_code,
                                            verification_uri, expires_in, interval, message
    POST /<tenant>/oauth2/v2.0/token        grant_type=urn:ietf:params:oauth:grant-type:
                                            device_code: authorization_pending (AADSTS70016)
                                            until approved, expired_token (AADSTS70019) after
                                            expires_in; then the person's tokens (access,
                                            refresh, id, client_info)
                                            grant_type=refresh_token: a new access token

The shapes follow Microsoft identity platform's "OAuth 2.0 device authorization grant" page
(learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code). The person "signs in" through
the admin endpoint: `GET /_emulator/device` lists pending user codes, `POST
/_emulator/device/approve` {"user_code", "upn", "wids": [role template ids], "scp"} approves
one. `interval` is 1 s (Entra says 5) so tests poll quickly; an assumption, as is that any
registered client may use the grant (Entra needs "Allow public client flows").
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from typing import Any

from idpctl_emulator import oauth, wire
from idpctl_emulator.oauth import TokenError

__all__ = ["GRANTS", "DeviceCodeService"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANTS = frozenset({DEVICE_GRANT, "refresh_token"})
EXPIRES_IN = 900
DEFAULT_SCOPES = "IdentityProvider.ReadWrite.All User.Read"


class DeviceCodeService:
    def __init__(self, identity: Any) -> None:
        self.identity = identity
        self._lock = threading.Lock()
        self._pending: dict[str, dict[str, Any]] = {}  # device_code -> flow
        self._refresh: dict[str, dict[str, Any]] = {}  # refresh token -> person

    def start(self, request: wire.Request, tenant: str) -> wire.Response:
        try:
            form = oauth.form_fields(request)
            client_id = form.get("client_id") or ""
            if not client_id:
                raise oauth.missing("client_id")
            if self.identity.registry.get(client_id) is None:
                raise TokenError(
                    400,
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{client_id}' was not found in "
                    f"the directory '{self.identity.tenant_id}'.",
                )
            resource = _resource(form.get("scope") or "")
        except TokenError as exc:
            return oauth.aad_error(request, exc)
        device_code, user_code = secrets.token_urlsafe(32), secrets.token_hex(4).upper()
        base = self.identity.base_url().rstrip("/")
        with self._lock:
            self._pending[device_code] = {
                "user_code": user_code,
                "client_id": client_id,
                "resource": resource,
                "expires": self.identity.now() + EXPIRES_IN,
                "person": None,
            }
        verification = f"{base}/_emulator/device"
        return oauth.plain_json(
            200,
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification,
                "expires_in": EXPIRES_IN,
                "interval": 1,
                "message": f"To sign in, use a web browser to open the page {verification} and "
                f"enter the code {user_code} to authenticate.",
            },
        )

    def token(self, request: wire.Request, form: dict[str, str]) -> wire.Response:
        try:
            if form.get("grant_type") == DEVICE_GRANT:
                person, client_id, resource = self._device(form)
            else:
                person, client_id, resource = self._refreshed(form)
        except TokenError as exc:
            return oauth.aad_error(request, exc)
        return oauth.plain_json(
            200,
            self._tokens(person, client_id, resource),
            {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )

    def _device(self, form: dict[str, str]) -> tuple[dict[str, Any], str, str]:
        with self._lock:
            flow = self._pending.get(form.get("device_code") or "")
            if flow is None or flow["client_id"] != form.get("client_id"):
                raise TokenError(
                    400,
                    "invalid_grant",
                    70000,
                    "The provided value for the 'device_code' is not valid.",
                )
            if self.identity.now() > flow["expires"]:
                del self._pending[form["device_code"]]
                raise TokenError(400, "expired_token", 70019, "Verification code expired.")
            if flow["person"] is None:
                raise TokenError(
                    400,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )
            del self._pending[form["device_code"]]
        return flow["person"], flow["client_id"], flow["resource"]

    def _refreshed(self, form: dict[str, str]) -> tuple[dict[str, Any], str, str]:
        with self._lock:
            held = self._refresh.get(form.get("refresh_token") or "")
        if held is None or held["client_id"] != form.get("client_id"):
            raise TokenError(
                400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        return held["person"], held["client_id"], _resource(form.get("scope") or "")

    def _tokens(self, person: dict[str, Any], client_id: str, resource: str) -> dict[str, Any]:
        identity = self.identity
        client = identity.registry.get(client_id)
        extra = {
            "idtyp": "user",
            "upn": person["upn"],
            "unique_name": person["upn"],
            "oid": person["oid"],
            "sub": person["oid"],
            "scp": person["scp"],
            "wids": list(person["wids"]),
        }
        access, expires_on = identity.issue(client, resource, extra=extra, app_roles=False)
        refresh = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[refresh] = {"person": person, "client_id": client_id}
        base, tid = identity.base_url().rstrip("/"), identity.tenant_id
        now = int(identity.now())
        id_token = identity.sign(
            {
                "aud": client_id,
                "iss": f"{base}/{tid}/v2.0",
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "oid": person["oid"],
                "sub": person["oid"],
                "tid": tid,
                "preferred_username": person["upn"],
                "name": person["upn"],
                "ver": "2.0",
            }
        )
        info = (
            base64.urlsafe_b64encode(json.dumps({"uid": person["oid"], "utid": tid}).encode())
            .rstrip(b"=")
            .decode()
        )
        return {
            "token_type": "Bearer",
            "scope": f"{resource}/.default openid profile offline_access",
            "expires_in": int(expires_on - now),
            "ext_expires_in": int(expires_on - now),
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": info,
        }

    # -- the admin side ---------------------------------------------------------------

    def handle_admin(self, request: wire.Request) -> wire.Response | None:
        path = request.path.rstrip("/")
        if path == "/_emulator/device" and request.method == "GET":
            with self._lock:
                codes = [f["user_code"] for f in self._pending.values() if f["person"] is None]
            return oauth.plain_json(200, {"pending": codes})
        if path == "/_emulator/device/approve" and request.method == "POST":
            body = request.json()
            if not isinstance(body, dict) or not body.get("user_code") or not body.get("upn"):
                return oauth.plain_json(400, {"error": "user_code and upn are required"})
            person = {
                "upn": str(body["upn"]),
                "oid": str(uuid.uuid4()),
                "wids": [str(w) for w in body.get("wids") or []],
                "scp": str(body.get("scp") or DEFAULT_SCOPES),
            }
            with self._lock:
                flow = next(
                    (f for f in self._pending.values() if f["user_code"] == body["user_code"]), None
                )
                if flow is None:
                    return oauth.plain_json(404, {"error": "no such pending user code"})
                flow["person"] = person
            return oauth.plain_json(200, {"approved": body["user_code"]})
        return None


def _resource(scope: str) -> str:
    """The resource of the first `<resource>/.default` scope (msal adds openid, profile,
    offline_access)."""
    for item in scope.split():
        if item.endswith("/.default"):
            return item[: -len("/.default")]
    raise TokenError(
        400,
        "invalid_scope",
        70011,
        "The provided value for the input parameter 'scope' is not valid.",
    )
