"""Security of the web service: response headers, per-client rate limits, CSRF cookies, redacted logs."""
from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SITE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
"""The site's own pages: no script at all, styles only from /static."""
NOTE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; "
            "frame-ancestors 'none'; base-uri 'none'")
"""A published note or chart: inline CSS and SVG, nothing fetched, no script."""
CSRF_COOKIE = "nd_csrf"
CSRF_FIELD = "csrf"
_TOKEN_PATH = re.compile(r"^/(u|p|confirm)/[^/?]+")

log = logging.getLogger("nightdesk.web")


def redact(path: str) -> str:
    """A request path fit for a log: tokens replaced.

    >>> redact("/u/abc.def"), redact("/en/2026-02-04/")
    ('/u/…', '/en/2026-02-04/')
    """
    return _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/…", path)


@dataclass
class RateLimiter:
    """Token buckets per key: ``capacity`` requests, refilled evenly over ``period_s``.

    In memory, per process (run one worker, or put limits in the proxy as well). Keys are
    forgotten once their bucket is full again, so the table stays small.
    """

    capacity: int
    period_s: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        now = self.clock()
        rate = self.capacity / self.period_s
        tokens, last = self._buckets.get(key, (float(self.capacity), now))
        tokens = min(float(self.capacity), tokens + (now - last) * rate)
        if len(self._buckets) > 10_000:
            self._prune(now, rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def retry_after_s(self, key: str) -> int:
        """Seconds until ``key`` has a token again (at least 1)."""
        tokens, _ = self._buckets.get(key, (float(self.capacity), 0.0))
        return max(1, int((1.0 - tokens) * self.period_s / self.capacity) + 1)

    def _prune(self, now: float, rate: float) -> None:
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * rate >= self.capacity:
                del self._buckets[key]


def client_key(scope: Scope) -> str:
    """The client's address (uvicorn puts the proxy's ``X-Forwarded-For`` here when it trusts the proxy)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


class GuardMiddleware:
    """Every response gets the security headers; every client a request budget; every request a
    log line without tokens."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, https: bool, too_many: Callable[[Scope, int], ASGIApp]):
        self.app, self.limiter, self.https, self.too_many = app, limiter, https, too_many

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                h = MutableHeaders(scope=message)
                h.setdefault("Content-Security-Policy", SITE_CSP)
                h.setdefault("X-Frame-Options", "DENY")
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("Referrer-Policy", "no-referrer")  # token URLs never leak through Referer
                h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                h.setdefault("Cross-Origin-Resource-Policy", "same-origin")
                h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
                if self.https:
                    h.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        key = client_key(scope)
        app = self.app if self.limiter.allow(key) else self.too_many(scope, self.limiter.retry_after_s(key))
        t0 = time.perf_counter()
        await app(scope, receive, send_with_headers)
        log.info("%s %s %s %.0fms", scope["method"], redact(scope["path"]), status["code"], 1000 * (time.perf_counter() - t0))


def csrf_cookie(request: Request) -> tuple[str, bool]:
    """The browser's CSRF cookie value, and whether it is new (then the response must set it)."""
    value = request.cookies.get(CSRF_COOKIE, "")
    if re.fullmatch(r"[A-Za-z0-9_-]{32,64}", value):
        return value, False
    return secrets.token_urlsafe(32), True


def same_origin(request: Request, base_url: str) -> bool:
    """False when the browser says the request came from another site (``Origin`` or
    ``Sec-Fetch-Site``); True when it matches or the client sent neither."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and origin.rstrip("/") != _origin(base_url) and origin.rstrip("/") != _origin(str(request.base_url)):
        return False
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
