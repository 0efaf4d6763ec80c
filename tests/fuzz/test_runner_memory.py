"""A fuzz worker's memory limit counts the worker's own memory, not its parent's.

Late in ``make test`` the pytest process has grown past 2 GB; a worker forked straight
from it inherited that figure as its peak RSS and libFuzzer stopped it as out-of-memory
before any input had run (CI, stop 21). The runner now starts workers through
``fresh_peak_rss``; this test grows a parent to about 1 GB and reads both."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.fuzz.runner import ROOT

PARENT = textwrap.dedent(
    """
    import subprocess, sys
    from tests.fuzz.runner import fresh_peak_rss
    big = bytearray(1024 * 1024 * 1024)
    for i in range(0, len(big), 4096):
        big[i] = 1
    probe = [sys.executable, "-c",
             "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"]
    direct = subprocess.run(probe, capture_output=True, text=True, check=True).stdout
    fresh = subprocess.run(fresh_peak_rss(probe), capture_output=True, text=True, check=True).stdout
    print(int(direct), int(fresh))
    """
)


def test_worker_peak_rss_is_its_own() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PARENT], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    direct_mb, fresh_mb = map(int, out.split())
    assert direct_mb > 900, "the inherited peak is what this test guards against; it vanished"
    assert fresh_mb < 200
