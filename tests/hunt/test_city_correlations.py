"""`soc hunt` with the bundled rules over ../shared/datasets/linux raises the recorded attacks.

The real command (soc.cli's ``hunt``, as tests/hunt/test_cli.py runs it) reads
auth.log as syslog (soc.ingest.readers, by its first line), parses it with the connector's
auth parser, matches the bundled rules and evaluates the city's correlations
(soc/detections/rules/linux/sshd/) with the streaming evaluator.

The expected alerts were derived by hand from the log, independently of the code:

- SSH brute force (10 failure lines from one address within 5 minutes, then quiet until
  5 minutes after the first one counted): ``awk -f brute.awk auth.log``, where brute.awk
  (below, BRUTE_AWK) takes the sshd lines holding "failed password for " or "invalid
  user " in any case (Sigma keywords are case-insensitive, so sshd's "maximum
  authentication attempts exceeded for invalid user" lines count too) with " from
  <address>", and runs that window per address.
- Password spraying (5 distinct account names within an hour): the same lines, the name
  before " from ", the same kind of window (SPRAY_AWK): 91.197.232.109 twice.
- A login after the guessing: ``grep -E 'sshd\\[[0-9]+\\]: Accepted' auth.log`` shows
  logins from four addresses only; of the brute-force addresses, only 24.151.103.17 has
  one, at Mar 30 16:01:36, 6 minutes 50 seconds after its brute force fired (15:54:46;
  its 130 failures run from 15:54:19 to 16:01:35): once.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from soc.cli import main

BRUTE_FORCE = "cebc8bb7-edae-44bc-94da-634fdcb02c46"
SPRAYING = "cde4dc9f-7b77-499d-8baa-ba415503b678"
THEN_SUCCESS = "13c4d967-613a-4a1b-aeaf-99ae9ab7f0b9"
SILENT = {
    "7be5b1cc-c45c-4d7e-b390-5c69d61d437f",  # an SSH password failure
    "910ae5b4-13de-42ea-9759-4fc45893f16b",  # an SSH login
    "9949726c-7986-4f2a-8f7b-125a0ff55375",  # the stage of THEN_SUCCESS
}
EXPECTED = {
    BRUTE_FORCE: {
        "24.151.103.17": 2,
        "49.4.143.105": 3,
        "91.197.232.109": 2,
        "122.163.61.218": 1,
        "14.54.210.101": 1,
        "181.25.201.155": 1,
        "181.25.206.27": 1,
        "181.26.186.35": 1,
        "201.178.81.113": 1,
        "222.186.56.220": 1,
        "34.204.227.175": 1,
    },
    SPRAYING: {"91.197.232.109": 2},
    THEN_SUCCESS: {"24.151.103.17": 1},
}

_MONTHS = 'BEGIN { split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", m, " "); '
_MONTHS += "for (i in m) mon[m[i]] = i }\n"
_LINES = (
    "$5 ~ /^sshd\\[/ && tolower($0) ~ /failed password for |invalid user / && "
    "match($0, / from [0-9.]+/) {\n"
    '    ip = substr($0, RSTART + 6, RLENGTH - 6); split($3, t, ":")\n'
    "    s = ((mon[$1] * 31 + $2) * 24 + t[1]) * 3600 + t[2] * 60 + t[3]\n"
)
BRUTE_AWK = (
    _MONTHS
    + _LINES
    + """    if (ip in quiet && s <= quiet[ip]) next
    delete quiet[ip]
    n = split(win[ip], w, " "); kept = ""; c = 0
    for (i = 1; i <= n; i++) if (w[i] >= s - 300) { kept = kept " " w[i]; c++ }
    kept = kept " " s; c++
    if (c >= 10) { split(kept, f, " "); fired[ip]++; quiet[ip] = f[1] + 300; win[ip] = "" }
    else win[ip] = kept
}
END { for (ip in fired) print ip, fired[ip] }
"""
)
SPRAY_AWK = (
    _MONTHS
    + _LINES
    + """    if (!match($0, /(for|user) [^ ]* from /)) next
    split(substr($0, RSTART, RLENGTH), u, " "); user = u[2]; if (user == "from") next
    if (ip in quiet && s <= quiet[ip]) next
    delete quiet[ip]
    n = split(win[ip], w, " "); kept = ""; delete seen; c = 0; first = s
    for (i = 1; i <= n; i++) {
        split(w[i], p, "@")
        if (p[1] >= s - 3600) {
            kept = kept " " w[i]; if (!(p[2] in seen)) { seen[p[2]]; c++ }
            if (p[1] < first) first = p[1]
        }
    }
    kept = kept " " s "@" user; if (!(user in seen)) c++
    if (c >= 5) { fired[ip]++; quiet[ip] = first + 3600; win[ip] = "" } else win[ip] = kept
}
END { for (ip in fired) print ip, fired[ip] }
"""
)


@pytest.fixture
def hunted(
    shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[dict[str, object]], str]:
    monkeypatch.setenv("SOC_ENV", "development")
    monkeypatch.setenv("SOC_DETECT__CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, ["hunt", str(shared_dir / "datasets/linux")])
    assert done.exit_code == 0, done.output
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def test_the_hand_derivation_holds(shared_dir: Path, tmp_path: Path) -> None:
    """The awk programs of the docstring give EXPECTED (so the figures are not the code's)."""
    log = shared_dir / "datasets/linux/auth.log"
    for program, correlation in ((BRUTE_AWK, BRUTE_FORCE), (SPRAY_AWK, SPRAYING)):
        (tmp_path / "p.awk").write_text(program)
        out = subprocess.run(
            ["awk", "-f", str(tmp_path / "p.awk"), str(log)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        found = {ip: int(n) for ip, n in (line.split() for line in out.splitlines())}
        assert found == EXPECTED[correlation]


def test_soc_hunt_raises_the_recorded_brute_force_correlations(
    hunted: tuple[list[dict[str, object]], str],
) -> None:
    lines, stderr = hunted
    assert "7,121 events from 1 files (0 unreadable)" in stderr
    correlations = [m for m in lines if m.get("kind") == "correlation"]
    found: dict[str, Counter[str]] = {}
    for m in correlations:
        group = m["group"]
        assert isinstance(group, dict) and list(group) == ["src_ip"]
        found.setdefault(str(m["rule_id"]), Counter())[group["src_ip"]] += 1
    assert found == {k: Counter(v) for k, v in EXPECTED.items()}
    printed = {m["rule_id"] for m in lines}
    assert not printed & SILENT
    assert f"{len(correlations)} correlation matches of 6 correlation rules" in stderr


def test_the_login_after_guessing_is_the_recorded_one(
    hunted: tuple[list[dict[str, object]], str],
) -> None:
    lines, _ = hunted
    (hit,) = [m for m in lines if m["rule_id"] == THEN_SUCCESS]
    assert hit["type"] == "temporal_ordered" and hit["level"] == "high"
    assert str(hit["window_start"])[5:19] == "03-30T15:54:46"  # the brute force fired
    assert str(hit["window_end"])[5:19] == "03-30T16:01:36"  # Accepted password
    # the ten failures the stage counted (15:54:19 to 15:54:46), and the login
    event_ids = hit["event_ids"]
    assert isinstance(event_ids, list) and len(event_ids) == 11
    (brute,) = [
        m
        for m in lines
        if m["rule_id"] == BRUTE_FORCE
        and m["group"] == {"src_ip": "24.151.103.17"}
        and str(m["window_start"])[5:19] == "03-30T15:54:19"
    ]
    assert brute["value"] == 10 and set(brute["event_ids"]) < set(event_ids)  # type: ignore[arg-type]
