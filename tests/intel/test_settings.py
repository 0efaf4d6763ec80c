"""The `intel` settings: feeds from the environment as JSON, the password from the
settings or a mounted file (never both), unique names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soc.errors import ConfigError
from soc.settings import FeedSettings, load_settings

URL = "https://taxii.example.vn/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/"


def test_feeds_from_the_environment_with_a_password_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "taxii-password"
    secret.write_text("mat-khau-quoc-gia\n")
    feeds = [
        {
            "name": "national",
            "collection_url": URL,
            "user": "hue-soc",
            "password_file": str(secret),
        },
        {"name": "isac", "collection_url": URL, "password": "isac-pw", "tenant": "hue-ioc"},
    ]
    monkeypatch.setenv("SOC_INTEL__FEEDS", json.dumps(feeds))
    settings = load_settings(env="development")
    national, isac = settings.intel.feeds
    assert national.secret() == "mat-khau-quoc-gia" and national.tenant == "*"
    assert isac.secret() == "isac-pw" and isac.tenant == "hue-ioc"
    assert "isac-pw" not in repr(settings.intel)


def test_refused_feed_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        load_settings(
            env="development",
            intel={"feeds": [{"name": "a", "collection_url": URL, "password": "x",
                              "password_file": str(tmp_path / "p")}]},
        )  # fmt: skip
    with pytest.raises(ConfigError, match="unique"):
        load_settings(
            env="development",
            intel={"feeds": [{"name": "a", "collection_url": URL}] * 2},
        )
    missing = FeedSettings(name="a", collection_url=URL, password_file=tmp_path / "none")
    with pytest.raises(ConfigError, match="password_file"):
        missing.secret()
