"""Optional bearer-token authentication, as a FastAPI dependency."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

__all__ = ["require_api_key"]


async def require_api_key(request: Request) -> None:
    key = request.app.state.settings.api_key
    if key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    # compare_digest: the time taken must not reveal how much of the key matched
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.get_secret_value().encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong API key: send the header `Authorization: Bearer <key>` with the key the "
            "service was started with (--api-key / REFEREE_API_KEY)",
            headers={"WWW-Authenticate": "Bearer"},
        )
