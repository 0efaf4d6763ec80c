"""The analysts' web UI: static files under /ui/, served by the service itself.

Plain HTML, CSS and JavaScript modules from ``soc/api/ui/``, with no build step
and nothing fetched from the internet (the SOC network is air-gapped). The
pages hold no data and need no sign-in; everything they show comes from the
authenticated API. Only files present at start-up are served, looked up by
their exact relative path, so no request can reach outside the folder.

Every UI response carries a strict Content-Security-Policy: scripts, styles
and connections from this origin only, no inline script, no framing.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from soc.drills.report import CSS_FILE as REPORT_CSS

UI_DIR = Path(__file__).resolve().parent.parent / "ui"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


def _assets(root: Path) -> dict[str, Path]:
    """Every servable file under ``root`` by its relative path; hidden files are left out."""
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.suffix in MEDIA_TYPES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


ASSETS = _assets(UI_DIR) | {"drill-report.css": REPORT_CSS}
"""The UI's files, and the drill report's print stylesheet (soc/drills/report.css)."""


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/{path:path}")
async def asset(path: str) -> Response:
    file = ASSETS.get(path or "index.html")
    if file is None:
        return PlainTextResponse("not found", status_code=404, headers=SECURITY_HEADERS)
    return FileResponse(file, media_type=MEDIA_TYPES[file.suffix], headers=SECURITY_HEADERS)
