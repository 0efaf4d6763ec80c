"""The run's figures as text, JSON and an SVG plot (hand-written: no plotting library).

The plot has four panels over the run's time: consumer lag per group (and the
connectors' spools), CPU per process (% of one core), resident memory per
process, and each probe's ingest-to-alert and ingest-to-searchable latency.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from .feed import RunResult

COLOURS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 900, 240, 70, 190, 30, 30


def _panel(
    title: str, series: dict[str, list[tuple[float, float]]], y0: int, unit: str, t_max: float
) -> str:
    ys = [v for pts in series.values() for _, v in pts]
    y_max = max(ys, default=1.0) or 1.0
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    out = [
        f'<text x="{PAD_L}" y="{y0 + 18}" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{PAD_L}" y="{y0 + PAD_T}" width="{pw}" height="{ph}" fill="none" '
        'stroke="#999"/>',
    ]
    for i in range(5):
        v = y_max * i / 4
        y = y0 + PAD_T + ph - ph * i / 4
        out.append(
            f'<text x="{PAD_L - 6}" y="{y + 4:.0f}" text-anchor="end" font-size="11">'
            f"{v:,.0f}{unit}</text>"
        )
        out.append(
            f'<line x1="{PAD_L}" x2="{PAD_L + pw}" y1="{y:.0f}" y2="{y:.0f}" stroke="#eee"/>'
        )
    for i in range(6):
        t = t_max * i / 5
        x = PAD_L + pw * i / 5
        out.append(
            f'<text x="{x:.0f}" y="{y0 + PAD_T + ph + 16}" text-anchor="middle" '
            f'font-size="11">{t:,.0f} s</text>'
        )
    for k, (name, pts) in enumerate(sorted(series.items())):
        colour = COLOURS[k % len(COLOURS)]
        coords = " ".join(
            f"{PAD_L + pw * t / t_max:.1f},{y0 + PAD_T + ph - ph * v / y_max:.1f}" for t, v in pts
        )
        if len(pts) == 1 or title.startswith("Latency"):
            out += [
                f'<circle cx="{c.split(",")[0]}" cy="{c.split(",")[1]}" r="1.6" fill="{colour}"/>'
                for c in coords.split()
            ]
        else:
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
        ly = y0 + PAD_T + 12 + 14 * k
        out.append(
            f'<rect x="{W - PAD_R + 10}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{W - PAD_R + 25}" y="{ly}" font-size="11">{escape(name)}</text>'
        )
    return "\n".join(out)


def svg(r: RunResult) -> str:
    t_max = max([s.t for s in r.samples] + [r.feed_s, 1.0])
    lag: dict[str, list[tuple[float, float]]] = {}
    cpu: dict[str, list[tuple[float, float]]] = {}
    rss: dict[str, list[tuple[float, float]]] = {}
    for s in r.samples:
        for g, v in s.lag.items():
            lag.setdefault(f"group {g}", []).append((s.t, v))
        lag.setdefault("connector spools", []).append((s.t, sum(s.spool.values())))
        for n, v in s.cpu.items():
            cpu.setdefault(n, []).append((s.t, v))
        for n, v in s.rss_mb.items():
            rss.setdefault(n, []).append((s.t, v))
    lat = {
        "ingest to alert": [(p.at, p.alert_s * 1000) for p in r.probes if p.alert_s is not None],
        "ingest to searchable": [
            (p.at, p.search_s * 1000) for p in r.probes if p.search_s is not None
        ],
    }
    machine: dict[str, list[tuple[float, float]]] = {}
    for s in r.samples:
        for n, v in s.wait.items():
            machine.setdefault(f"{n} waiting", []).append((s.t, v))
    panels = [
        ("Consumer lag (events or records not yet consumed)", lag, ""),
        ("CPU per process (% of one core)", cpu, "%"),
        ("Resident memory per process (MiB)", rss, ""),
        ("Time waiting for a core per process (% of wall time)", machine, "%"),
        ("Latency of each probe (ms)", lat, ""),
    ]
    body = "\n".join(
        _panel(title, series, i * H, unit, t_max) for i, (title, series, unit) in enumerate(panels)
    )
    title = (
        f"soak: {r.rate:g} events/s for {r.feed_s:.0f} s; "
        f"ledger sent {r.ledger.sent}, lost {r.ledger.lost}, duplicated {r.ledger.duplicated}"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H * len(panels) + 30}" '
        'font-family="sans-serif" font-size="13">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n'
        f'<text x="{PAD_L}" y="{H * len(panels) + 20}" font-size="12">{escape(title)}</text>\n'
        f"{body}\n</svg>\n"
    )


def save(r: RunResult, folder: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write figures.json, samples.json and plot.svg into ``folder``; return the figures."""
    folder.mkdir(parents=True, exist_ok=True)
    figs = r.figures() | (extra or {})
    (folder / "figures.json").write_text(json.dumps(figs, indent=2) + "\n")
    (folder / "samples.json").write_text(
        json.dumps(
            {
                "samples": [s.__dict__ for s in r.samples],
                "probes": [p.__dict__ for p in r.probes],
            }
        )
        + "\n"
    )
    (folder / "plot.svg").write_text(svg(r))
    return figs


def summary(figs: dict[str, Any]) -> str:
    """The figures of issue 16 item 1, one per line."""
    a, s, lag, led = figs["alert_ms"], figs["searchable_ms"], figs["lag"], figs["ledger"]
    lines = [
        f"rate asked            {figs['rate']:g} events/s for {figs['seconds']:g} s",
        f"events/s sustained    sent {figs['events_per_s_sent']}, "
        f"stored {figs['events_per_s_stored']}",
        f"ingest -> alert       p50 {a['p50']} ms  p95 {a['p95']} ms  p99 {a['p99']} ms  "
        f"max {a['max']} ms  ({figs['probes']} probes, {a['unseen']} unseen)",
        f"ingest -> searchable  p50 {s['p50']} ms  p95 {s['p95']} ms  p99 {s['p99']} ms  "
        f"max {s['max']} ms  ({s['unseen']} unseen)",
        f"consumer lag          max {lag['max']}, mean middle third {lag['mean_middle_third']}, "
        f"last third {lag['mean_last_third']}; drained in {lag['drain_s']} s after the feed; "
        f"bounded: {lag['bounded']}",
        f"ledger                sent {led['sent']}, stored {led['stored']}, lost {led['lost']}, "
        f"duplicated {led['duplicated']} (unexpected {led['unexpected']}, "
        f"dead letters {led['dead_letters']})",
        "processes             "
        + "; ".join(
            f"{n} cpu {p['cpu_mean_pct']}% (max {p['cpu_max_pct']}%, waiting for a core "
            f"{p['run_queue_wait_pct']}%) rss {p['rss_max_mb']} MiB"
            for n, p in figs["processes"].items()
        ),
        "cost per 1000 events  "
        + ", ".join(f"{n} {v} core-s" for n, v in figs["core_seconds_per_1000_events"].items())
        + f"; CPU-bound ceiling on an idle machine ~{figs['cpu_bound_ceiling_events_per_s']} "
        "events/s",
        f"machine               load average {figs['machine']['load1_mean']} on "
        f"{figs['machine']['cores']} cores, busy {figs['machine']['busy_pct_mean']}%",
        "goal (p99 alert < 2 s, lag bounded, nothing lost): "
        + ("met" if figs["goal_met"] else "NOT met"),
    ]
    return "\n".join(lines)
