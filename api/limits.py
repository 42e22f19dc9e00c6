"""Request limits at the door: body size (413), JSON that is not UTF-8 (422
``invalid_encoding``) and JSON nesting depth (422), checked while the body streams in,
before any parsing — a deeply nested document would otherwise exhaust the parser's
recursion and a huge one the memory.

A body is JSON here when the route would parse it as JSON: no ``Content-Type`` at all,
``application/json`` or any ``application/*+json``, whatever the case of the media type
(RFC 9110 §8.3.1: ``Application/JSON`` is JSON)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.problems import MEDIA_TYPE, PROBLEM_BASE, TITLES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 256 * 1024
UPLOAD_MAX_BODY = 2 * 1024 * 1024
MAX_JSON_DEPTH = 32


def is_json(ctype: str) -> bool:
    """Whether a body with this ``Content-Type`` is read as JSON (case-insensitive)."""
    media = ctype.split(";", 1)[0].strip().lower()
    if not media:
        return True  # the routes read a body without a media type as JSON
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """Whether brackets nest deeper than ``limit`` (outside strings), in one linear pass."""
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


async def _problem(send: Send, status: int, code: str, detail: str, path: str) -> None:
    body = json.dumps(
        {
            "type": PROBLEM_BASE + code,
            "title": TITLES[status],
            "status": status,
            "detail": detail,
            "instance": path,
            "code": code,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """ASGI middleware: bounded bodies everywhere, a larger bound for file uploads."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        upload_max_body: int = UPLOAD_MAX_BODY,
        max_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.upload_max_body = upload_max_body
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        # Media types are case-insensitive (RFC 9110 §8.3.1): Application/JSON is JSON.
        ctype = headers.get("content-type", "").lower()
        limit = self.upload_max_body if ctype.startswith("multipart/") else self.max_body
        path = scope.get("path", "")
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _problem(
                send,
                413,
                "payload_too_large",
                f"El cuerpo de la solicitud supera el máximo de {limit} bytes.",
                path,
            )
            return
        # Read the whole (bounded) body first, so no handler ever sees more than the limit.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _problem(
                    send,
                    413,
                    "payload_too_large",
                    f"El cuerpo de la solicitud supera el máximo de {limit} bytes.",
                    path,
                )
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        json_body = is_json(ctype)
        if json_body and body:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as e:
                await _problem(
                    send,
                    422,
                    "invalid_encoding",
                    f"El cuerpo JSON no está codificado en UTF-8 (byte {e.start}); "
                    "envíelo en UTF-8 (RFC 8259).",
                    path,
                )
                return
        if json_body and json_depth_exceeds(body, self.max_depth):
            await _problem(
                send, 422, "json_too_deep", f"El JSON anida más de {self.max_depth} niveles.", path
            )
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
