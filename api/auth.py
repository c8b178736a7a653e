"""API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`, checked against sha256 digests.

Two steps. `ApiKeyMiddleware` authenticates every `/v1/` and documentation request before the
app reads the body, so a caller without a valid key learns nothing (401, never a 422 about a
body it may not send). `require_scope(...)`, a dependency on each router, then checks that the
key may do what the endpoint does (403). Scopes: `triage`, `coach`, `feedback` (the ticket
queues, statistics and corrections) and `admin` (everything, erasure included).

The digest of the presented key is compared with every configured digest in constant time (no
early exit), so neither timing nor the number of keys leaks which prefix was right.
"""

from __future__ import annotations

import hmac

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError, send_error
from api.keys import ALL_SCOPES, ApiKey, hash_api_key
from api.settings import ApiSettings

bearer_scheme = HTTPBearer(auto_error=False, description="API key as a bearer token")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# Who acts when the service runs without keys: everything is allowed, nobody is named.
OPEN_ACCESS = ApiKey(name="", digest="", scopes=ALL_SCOPES)
DOC_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")


def key_matches(presented: str, digests: tuple[str, ...]) -> bool:
    candidate = hash_api_key(presented)
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(candidate, digest)
    return matched


def scopes_for_key(presented: str, settings: ApiSettings) -> tuple[str, frozenset[str]] | None:
    """(name, scopes) of a presented key, or None; for callers that carry the key elsewhere
    (a cookie) and so cannot use the header dependency."""
    key = settings.keyring.find(presented) if presented else None
    return (key.name, key.scopes) if key is not None else None


def presented_key(headers: dict[str, str]) -> str | None:
    """The key in `X-API-Key`, else in `Authorization: Bearer …` (lower-case header names)."""
    key = headers.get("x-api-key", "").strip()
    if key:
        return key
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def needs_key(path: str) -> bool:
    return path.startswith("/v1/") or path == "/v1" or path in DOC_PATHS


class ApiKeyMiddleware:
    """Authenticates before routing and body parsing; stores the key in `request.state.api_key`."""

    def __init__(self, app: ASGIApp, settings: ApiSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.settings.auth_enabled:
            scope.setdefault("state", {})["api_key"] = OPEN_ACCESS
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "OPTIONS" or not needs_key(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        presented = presented_key(headers)
        key = self.settings.keyring.find(presented) if presented else None
        if key is None:
            message = (
                "invalid API key"
                if presented
                else "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
            await send_error(
                scope, send, 401, "unauthorized", message, ((b"www-authenticate", b"Bearer"),)
            )
            return
        scope.setdefault("state", {})["api_key"] = key
        await self.app(scope, receive, send)


def current_key(request: Request) -> ApiKey:
    """The authenticated key (OPEN_ACCESS when the service has no keys)."""
    key = request.scope.get("state", {}).get("api_key")
    if key is None:  # no middleware in front (an app assembled by hand): refuse, never open
        if request.app.state.settings.auth_enabled:
            raise ApiError(401, "unauthorized", "missing API key", headers=_CHALLENGE)
        return OPEN_ACCESS
    return key


def require_scope(scope: str):
    """Dependency for a router: the key must hold `scope` (or `admin`). Declares the security
    schemes, so the OpenAPI page shows how to send a key."""

    async def check(
        request: Request,
        _bearer: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
        _api_key: str | None = Security(api_key_scheme),
    ) -> ApiKey:
        key = current_key(request)
        if not key.allows(scope):
            raise ApiError(
                403,
                "forbidden",
                f"the API key {key.name!r} lacks the {scope!r} scope for this endpoint",
            )
        return key

    check.__name__ = f"require_{scope}_scope"
    return check


async def require_api_key(
    request: Request,
    _bearer: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
    _api_key: str | None = Security(api_key_scheme),
) -> ApiKey:
    """Any valid key (or open access): for endpoints every scope may read (`/v1/models`)."""
    return current_key(request)
