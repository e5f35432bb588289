"""The request guard (ASGI middleware): upload and JSON body limits before a body is read, the
``Host`` check against DNS rebinding on loopback, and the security headers of every answer."""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException

from fashion.web.responses import _error

MB = 1024 * 1024
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                                "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
}
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                  "X-Frame-Options": "DENY"}
log = logging.getLogger("fashion.web")



# ---------------------------------------------------------------------------------------------
# Outermost guard: body size, Host header, security headers, no tracebacks


class _BodyTooLarge(HTTPException):
    def __init__(self, limit: int, path: str = "/recommend") -> None:
        super().__init__(status_code=413, detail=_too_large_message(limit, path))


def _too_large_message(limit: int, path: str) -> str:
    """Which limit a too-large body broke, by name: the upload limit, the JSON body limit, or none allowed."""
    if limit <= 0:
        return "request too large: this request takes no body"
    if path == "/recommend":
        return f"upload too large: more than {_format_mb(limit)} (web.max_upload_mb)"
    return f"request body too large: more than {_format_size(limit)} (the JSON body limit)"


def _format_mb(size: int) -> str:
    return f"{size / MB:g} MB"


def _format_size(size: int) -> str:
    return f"{size / 1024:g} KB" if size < MB else _format_mb(size)


class Guard:
    """Pure ASGI middleware around the whole application.

    * refuses a request body over its limit: at once from ``Content-Length``, else as soon as
      the streamed body passes it (the rest is never read);
    * refuses a ``Host`` outside ``allowed_hosts`` (when given);
    * adds security headers;
    * turns any exception that escapes the app into ``500 {"error": "internal server error"}``
      (the traceback goes to the log, never to the client).
    """

    def __init__(self, app: Callable, limit_for: Callable[[str, str], int],
                 allowed_hosts: Sequence[str] | None = None) -> None:
        self.app = app
        self.limit_for = limit_for
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = Headers(scope=scope)
        started = False

        async def send_with_headers(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    extra.setdefault(name, value)
                if path == "/" or path.startswith("/static/"):
                    for name, value in PAGE_HEADERS.items():
                        extra.setdefault(name, value)
            await send(message)

        async def answer(status: int, message: str) -> None:
            await _error(status, message)(scope, receive, send_with_headers)

        if self.allowed_hosts is not None:
            host = headers.get("host", "").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.allowed_hosts:
                await answer(400, "unexpected Host header: this server only answers requests for "
                                  + ", ".join(sorted(self.allowed_hosts)))
                return
        limit = self.limit_for(scope.get("method", "GET"), path)
        declared = headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await answer(400, "invalid Content-Length header")
                return
            if size > limit:
                await answer(413, _BodyTooLarge(limit, path).detail)
                return
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit, path)
            return message

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge as error:
            if not started:
                await answer(413, str(error.detail))
        except Exception:  # noqa: BLE001 - the client gets a JSON 500, the log the traceback
            log.exception("unexpected error answering %s %s", scope.get("method"), path)
            if not started:
                await answer(500, "internal server error (details are in the server's log)")
