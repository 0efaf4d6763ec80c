"""`make audit`: known vulnerabilities in the installed dependencies (pip-audit).

The project keeps no lock file: what is audited is what the virtual environment holds
(`pip-audit --local`, the editable project itself left out). pip-audit asks PyPI's
per-release JSON; where that answers nothing for a package (some mirrors and proxies
serve only the per-project JSON), this script reads the project's JSON, whose
`vulnerabilities` are those of its latest release, and uses them when the installed
version is that release. What neither can audit is listed, never passed over silently.

Exit status: 1 when a vulnerability is found (whatever else happened); 0 otherwise, with
a clear warning when the audit was incomplete because the service could not be reached
or answered nothing for some packages (2 instead with AUDIT_STRICT=1).

An ignored vulnerability must be listed in IGNORED below, with why (no fixed release,
or not reachable from this project), and is passed to pip-audit as --ignore-vuln.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import distributions
from pathlib import Path

IGNORED: dict[str, str] = {
    # diskcache <= 5.6.3 (pulled in by pySigma) unpickles what its cache directory holds:
    # code execution for whoever can already write that directory. No fixed release
    # exists. Only pySigma's sigma.data.mitre_attack / mitre_d3fend open such a cache,
    # and the service never imports them (soc/detect/coverage.py ships no ATT&CK data;
    # tests/unit/test_dependency_audit.py checks that). Drop this when a fix is released.
    "GHSA-w8v5-vhqr-4h9v": "diskcache pickle cache, no fix, path unused (CVE-2025-69872)",
    "PYSEC-2026-2447": "the same advisory under its PyPI id",
}
PYPI = os.environ.get("AUDIT_PYPI_URL", "https://pypi.org/pypi")
TIMEOUT_S = 20


def pip_audit() -> dict | None:
    exe = Path(sys.executable).with_name("pip-audit")
    cmd = [str(exe), "--local", "--skip-editable", "--format", "json", "--progress-spinner", "off"]
    for vuln in IGNORED:
        cmd += ["--ignore-vuln", vuln]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        print("audit: pip-audit did not finish within 15 minutes (network?)")
        return None
    try:
        return json.loads(run.stdout)
    except json.JSONDecodeError:
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
        print(f"audit: pip-audit gave no report (exit {run.returncode}):\n{tail}")
        return None


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def latest_release_vulns(name: str, version: str) -> list[dict] | str:
    """The vulnerabilities of ``name`` ``version`` when it is the latest release, else why not."""
    try:
        with urllib.request.urlopen(f"{PYPI}/{name}/json", timeout=TIMEOUT_S) as r:
            project = json.load(r)
    except (urllib.error.URLError, OSError, ValueError) as e:
        return f"PyPI unreachable ({e})"
    latest = project.get("info", {}).get("version")
    if latest != version:
        return f"{version} installed, {latest} latest: no record of {version} reachable"
    return [v for v in project.get("vulnerabilities", []) if not v.get("withdrawn")]


def main() -> int:
    report = pip_audit()
    if report is None:
        return incomplete(["every package: pip-audit could not reach its vulnerability service"])
    installed = {normalized(d.metadata["Name"]): d.version for d in distributions()}
    found: list[str] = []
    unaudited: list[str] = []
    audited = 0
    deps = report.get("dependencies", [])
    for dep in deps:
        dep.setdefault("version", installed.get(normalized(dep["name"])))
    skipped = [
        d
        for d in deps
        if "skip_reason" in d and d["version"] and "editable" not in d["skip_reason"]
    ]
    with ThreadPoolExecutor(8) as pool:
        records = dict(
            zip(
                [d["name"] for d in skipped],
                pool.map(lambda d: latest_release_vulns(d["name"], d["version"]), skipped),
                strict=True,
            )
        )
    for dep in deps:
        name, version = dep["name"], dep["version"]
        if "skip_reason" not in dep:
            audited += 1
            found += [
                f"{name} {version}: {v['id']} (fixed in {v.get('fix_versions')})"
                for v in dep["vulns"]
            ]
            continue
        if name not in records:  # the project itself
            continue
        vulns = records[name]
        if isinstance(vulns, str):
            unaudited.append(f"{name}: {vulns}")
            continue
        audited += 1
        for v in vulns:
            ids = {v["id"], *v.get("aliases", [])}
            if not ids & IGNORED.keys():
                found.append(f"{name} {version}: {v['id']} (fixed in {v.get('fixed_in')})")
    print(f"audit: {audited} installed distributions audited")
    if found:
        print(f"audit: {len(found)} known vulnerabilities:")
        print("\n".join(f"  {line}" for line in found))
        print("audit: upgrade to a fixed release, or list the id in .ci/audit.py IGNORED with why")
        return 1
    print("audit: no known vulnerabilities")
    return incomplete(unaudited) if unaudited else 0


def incomplete(why: list[str]) -> int:
    print(f"audit: WARNING: the audit is incomplete, {len(why)} not audited:")
    print("\n".join(f"  {line}" for line in why))
    return 2 if os.environ.get("AUDIT_STRICT") == "1" else 0


if __name__ == "__main__":
    sys.exit(main())
