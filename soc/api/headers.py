"""Hardening headers on every answer of the service (docs/OPERATIONS.md, security).

A pure ASGI middleware (it does not buffer: the live stream passes through) adds to each
response what it does not set itself:

- ``Content-Security-Policy``: the UI's policy (this origin only, no inline script, no
  framing; :data:`soc.api.routes.ui.CONTENT_SECURITY_POLICY`) on HTML; on everything
  else (JSON, problem documents, metrics, TAXII) ``default-src 'none'``: nothing an
  answer of the API could be made to load or run, were it ever shown as a page. The
  interactive API docs (``/docs``: FastAPI's page, with Swagger UI served by this
  process, never a CDN, started by an inline script; ``/redoc`` leads there) get a policy
  that allows exactly that;
- ``X-Frame-Options: DENY`` (and ``frame-ancestors 'none'`` in every policy),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``;
- ``Cache-Control: no-store`` on whatever sets no caching of its own (the API's answers,
  authenticated or a token, must stay out of shared and browser caches; the UI's static
  files set ``no-cache``);
- ``Strict-Transport-Security`` only when the request came over TLS: served with a
  certificate, or through a proxy among ``api.forwarded_allow_ips`` that said
  ``X-Forwarded-Proto: https`` (uvicorn sets the scheme from that header for those
  proxies only). Never on plain http, where it would be ignored or pin a name wrongly.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from soc.api.routes.ui import CONTENT_SECURITY_POLICY

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The policy of every answer that is not a page."""
DOCS_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
"""The API docs page (/docs; soc/api/routes/docs.py): its files from this origin only;
FastAPI's page starts Swagger UI with an inline script."""
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
ALWAYS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def hsts_value(max_age_s: int) -> str:
    return f"max-age={max_age_s}; includeSubDomains"


class SecurityHeaders:
    """The middleware; ``hsts_max_age_s`` 0 sends no ``Strict-Transport-Security``."""

    def __init__(self, app: ASGIApp, *, hsts_max_age_s: int = 31_536_000) -> None:
        self.app = app
        self.hsts = hsts_value(hsts_max_age_s) if hsts_max_age_s > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"
        docs = scope.get("path") in DOCS_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                if "content-security-policy" not in headers:
                    html = headers.get("content-type", "").startswith("text/html")
                    policy = DOCS_POLICY if docs else CONTENT_SECURITY_POLICY
                    headers["Content-Security-Policy"] = policy if html else API_POLICY
                headers.setdefault("Cache-Control", "no-store")
                if tls and self.hsts is not None:
                    headers["Strict-Transport-Security"] = self.hsts
            await send(message)

        await self.app(scope, receive, send_with_headers)
