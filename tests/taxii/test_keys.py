"""`soc keys new --role taxii`: the key a TAXII consumer (the national platform) is given."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from soc.cli import main
from soc.settings import ApiKey


def test_a_taxii_key_is_made_for_named_tenants() -> None:
    runner = CliRunner()
    made = runner.invoke(
        main,
        ["keys", "new", "--name", "national-platform", "--role", "taxii", "--tenant", "hue-ioc"],
    )
    assert made.exit_code == 0, made.output
    token = made.stderr.split(": ", 1)[1].strip()
    (entry,) = yaml.safe_load(made.stdout)["auth"]["api_keys"]
    key = ApiKey.model_validate(entry)
    assert (key.name, key.role, key.tenants) == ("national-platform", "taxii", ["hue-ioc"])
    assert key.sha256 == ApiKey.hash(token)
    refused = runner.invoke(
        main, ["keys", "new", "--name", "everything", "--role", "taxii", "--tenant", "*"]
    )
    assert refused.exit_code != 0 and "names its tenants" in refused.output
