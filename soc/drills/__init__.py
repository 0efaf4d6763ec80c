"""Incident-response drills: scenarios replayed through the live path, and scored.

    scenario.py   what a drill replays and what the SOC should do (YAML, validated)
    replay.py     a step's recorded events, renamed and stamped with the drill's origin
    runner.py     the service's runner: replays started drills through the ingest path
    control.py    a lead's orders: start, pause, resume, abort, end (closes its incidents)
    book.py       drills in the store (Records of kind ``drill``)
    scorecard.py  caught or missed, response times against budgets, a score
    report.py     the printable A4 report (Vietnamese) and the text scorecard

The drill id travels on each event's ``origin.drill`` to the alerts, correlation
alerts and incidents it causes (soc.detect, soc.incidents.grouping); a drill's
incidents never fold into live ones. See docs/DRILLS.md.
"""
