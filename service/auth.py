"""Optional bearer-token authentication: a FastAPI dependency on every route that needs the key, and the same
check at the door for request bodies (`limits.BodyLimits`), so an unauthenticated body is never read."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status
from pydantic import SecretStr

__all__ = ["UNAUTHORIZED", "authorized", "require_api_key"]

UNAUTHORIZED = ("missing or wrong API key: send the header `Authorization: Bearer <key>` with the key the service "
                "was started with (--api-key-file / REFEREE_API_KEY)")


def authorized(header: str, key: SecretStr | None) -> bool:
    """Whether an `Authorization` header value carries `key` (always true when no key is set)."""
    if key is None:
        return True
    scheme, _, token = header.partition(" ")
    token = token.strip()
    # compare_digest: the time taken must not reveal how much of the key matched. The settings refuse an
    # empty key; an empty token never matches anyway.
    return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(
        token.encode(), key.get_secret_value().encode())


async def require_api_key(request: Request) -> None:
    if not authorized(request.headers.get("authorization", ""), request.app.state.settings.api_key):
        raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail=UNAUTHORIZED,
                            headers={"WWW-Authenticate": "Bearer"})
