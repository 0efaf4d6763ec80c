"""The API docs page (/docs) loads nothing from another host (air-gapped SOCs):
every script, style and image it names is served by the service itself, and its policy
allows no other origin. The browser test (tests/browser/test_api_docs.py) renders it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from soc.api.headers import DOCS_POLICY
from tests.api._access import running_api, settings_for

ASSET = re.compile(r"""(?:src|href)\s*[=:]\s*['"]([^'"]+)['"]""")
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


async def test_docs_pages_name_only_their_own_files(tmp_path: Path) -> None:
    async with running_api(settings_for(tmp_path)) as api:
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://soc") as client:
            for page in ("/docs",):
                r = await client.get(page)
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
                assert r.headers["content-security-policy"] == DOCS_POLICY
                assert "http://" not in r.text and "https://" not in r.text, page
                assets = [a for a in ASSET.findall(r.text) if not a.startswith("#")]
                assert any(a.endswith(".js") for a in assets), (page, assets)
                for url in assets:
                    assert url.startswith("/docs/static/"), (page, url)
                    got = await client.get(url)
                    assert got.status_code == 200, url
                    kind = CONTENT_TYPES[Path(url).suffix]
                    assert got.headers["content-type"].startswith(kind), url
                    assert len(got.content) > 1000, url
            redoc = await client.get("/redoc")
            assert redoc.status_code == 307 and redoc.headers["location"] == "/docs"
            redirect = await client.get("/docs/oauth2-redirect")
            assert redirect.status_code == 200
            assert (await client.get("/openapi.json")).json()["info"]["title"]
            assert (await client.get("/docs/static/../app.py")).status_code == 404
    assert "https:" not in DOCS_POLICY and "http:" not in DOCS_POLICY
