"""API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`, checked against sha256 digests.

The digest of the presented key is compared with every configured digest in constant time (no
early exit), so neither timing nor the number of keys leaks which prefix was right.
"""

from __future__ import annotations

import hmac

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.settings import hash_api_key

bearer_scheme = HTTPBearer(auto_error=False, description="API key as a bearer token")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def key_matches(presented: str, digests: tuple[str, ...]) -> bool:
    candidate = hash_api_key(presented)
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(candidate, digest)
    return matched


async def require_api_key(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
    api_key: str | None = Security(api_key_scheme),
) -> None:
    """Dependency for every protected router; a no-op when no keys are configured."""
    digests: tuple[str, ...] = request.app.state.settings.api_key_hashes
    if not digests:
        return
    presented = api_key or (bearer.credentials if bearer else None)
    if not presented:
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers=_CHALLENGE,
        )
    if not key_matches(presented, digests):
        raise ApiError(401, "unauthorized", "invalid API key", headers=_CHALLENGE)
