"""One target under atheris: ``python -m tests.fuzz.worker TARGET [libFuzzer flags] DIRS``.

The SOC's and the connector's modules (and luqum, the event query's parser) are
instrumented for coverage as they are imported (PyYAML and pySigma are not: instrumented,
one rule text takes seconds); an exception out of ``fuzz_one`` is a
crash (libFuzzer writes the input to ``-artifact_prefix``), as are a hang past
``-timeout`` and a process past ``-rss_limit_mb``. The runner is tests/fuzz/__main__.py.

TARGET ``all`` fuzzes every target in one process (one start, paid once: the brief run of
``make test``): an input's first byte names the target, the rest is that target's input;
the executions per target are written to ``$SOC_FUZZ_COUNTS`` (JSON) as it goes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

import atheris

INSTRUMENTED = ["soc", "connectors", "tests.fuzz", "luqum"]
COUNTS_EVERY_S = 0.5


def multiplexed(
    names: tuple[str, ...], fns: list[Callable[[bytes], None]]
) -> Callable[[bytes], None]:
    counts = dict.fromkeys(names, 0)
    path = os.environ.get("SOC_FUZZ_COUNTS")
    written = time.monotonic()

    def fuzz_one(data: bytes) -> None:
        nonlocal written
        if not data:
            return
        i = data[0] % len(fns)
        counts[names[i]] += 1
        if path and time.monotonic() - written > COUNTS_EVERY_S:
            written = time.monotonic()
            with open(path, "w", encoding="utf-8") as f:
                json.dump(counts, f)
        fns[i](data[1:])

    return fuzz_one


def main() -> None:
    name = sys.argv[1]
    with atheris.instrument_imports(include=INSTRUMENTED):
        from tests.fuzz.targets import TARGETS, target

        if name == "all":
            fuzz_one = multiplexed(TARGETS, [target(t) for t in TARGETS])
        else:
            fuzz_one = target(name)
    atheris.Setup([sys.argv[0], *sys.argv[2:]], fuzz_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
