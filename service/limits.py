"""What every request body goes through before a route sees it, in this order:

1. the API key, when one is set (401): an unauthenticated caller's body is never read;
2. the size limit (413): by `Content-Length` at once, and while a body without one streams in;
3. admission by bytes (503 + Retry-After): a body is counted against `max_inflight_bytes` before it is read
   and until its request is answered, since what it parses into lives that long (see `ByteBudget`);
4. text that is not text (422): a JSON escape of a lone UTF-16 surrogate (see `surrogates`).

Then the route gets the whole body at once. Requests without a body (no `Content-Length`, not chunked) pass
straight through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .admission import ByteBudget, Overloaded
from .auth import UNAUTHORIZED, authorized
from .settings import ServiceSettings
from .surrogates import lone_surrogate

__all__ = ["BodyLimits"]


class _Refused(Exception):
    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


class BodyLimits:
    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings
        self.max_bytes = settings.max_body_bytes
        self.budget = ByteBudget(settings.max_inflight_bytes, settings.queue_timeout_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name: value for name, value in scope["headers"]}
        length_header = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if length_header is None and not chunked:
            await self.app(scope, receive, send)
            return
        held = 0
        try:
            try:
                if not authorized(headers.get(b"authorization", b"").decode("latin-1"), self.settings.api_key):
                    raise _Refused(401, UNAUTHORIZED, {"www-authenticate": "Bearer"})
                length = int(length_header) if length_header is not None and length_header.isdigit() else None
                if length is not None and length > self.max_bytes:
                    raise _Refused(413, self._too_large(length))
                if length is not None:
                    await self.budget.reserve(length, wait=True)
                    held = length
                chunks: list[bytes] = []
                size = 0
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the caller left; nothing to answer
                    chunk = message.get("body", b"")
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise _Refused(413, self._too_large(size))
                    if size > held:  # a streamed body, or one longer than it said: counted as it comes
                        await self.budget.reserve(size - held, wait=False)
                        held = size
                    if not message.get("more_body", False):
                        break
                body = b"".join(chunks)
                del chunks
                at = lone_surrogate(body)
                if at is not None:
                    raise _Refused(422, f"body: the JSON escape {body[at:at + 6].decode()!r} at byte {at} is a lone "
                                   "UTF-16 surrogate, not text; send valid Unicode (a character above U+FFFF is "
                                   "escaped as a pair, e.g. \\ud83d\\ude00)")
            except Overloaded as exc:
                await _answer(send, 503, str(exc), {"retry-after": str(exc.retry_after_s)})
                return
            except _Refused as exc:
                await _answer(send, exc.status, exc.detail, exc.headers)
                return
            await self.app(scope, _replay(body, receive), send)
        finally:
            await self.budget.release(held)

    def _too_large(self, size: int) -> str:
        return (f"request body of at least {size} bytes exceeds the limit of {self.max_bytes} bytes; send fewer "
                "samples per request (RewardClient splits batches for you) or raise max_body_bytes "
                "(REFEREE_MAX_BODY_BYTES)")


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: http.disconnect, when it comes

    return replay


async def _answer(send: Send, status: int, detail: str, headers: Mapping[str, str]) -> None:
    body = json.dumps({"detail": detail, "errors": []}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           *((k.encode(), v.encode()) for k, v in headers.items())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
