"""The sustained-load rig of bench/soak.py, importable by other harnesses (the fault tests).

    from bench.soak import Stack, StackConfig, drive, start_stack

    async with start_stack(StackConfig(kafka=..., opensearch=..., detectors=2)) as stack:
        result = await drive(stack, rate=500, seconds=120)
        print(result.ledger)          # sent, stored, lost, duplicated (by event id)

Modules: :mod:`.pools` (recorded lines re-stamped to now, probe lines), :mod:`.stack`
(the `soc` processes and the real `soc-connector` agents), :mod:`.feed` (the fixed-rate
feed, the samplers, the probes, the ledger), :mod:`.report` (the figures and the SVG plot).
"""

from .feed import Ledger, RunResult, drive
from .stack import Stack, StackConfig, start_stack

__all__ = ["Ledger", "RunResult", "Stack", "StackConfig", "drive", "start_stack"]
