"""What .ci/audit.py's ignored vulnerabilities rely on stays true.

diskcache (pulled in by pySigma, no fixed release) is ignored because only pySigma's
ATT&CK/D3FEND data modules open a diskcache, and the service never imports them.
"""

from __future__ import annotations

import subprocess
import sys


def test_the_service_never_loads_diskcache_even_compiling_the_rules() -> None:
    code = (
        "import sys, soc.cli, soc.api.app, soc.detect.coverage\n"
        "from soc.detect.load import load_engine\n"
        "from soc.settings import DetectSettings\n"
        "load_engine(DetectSettings(cache_dir=None))  # every bundled rule compiled\n"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] == 'diskcache' or m.startswith('sigma.data')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
