"""The running stages of the pipeline, one file each, in the order data flows:

    ingest.py       POST /api/v1/ingest: NDJSON bodies -> bus (events, deadletters)
    bridge.py       <prefix>.ingest.<tenant> Kafka topics -> bus (events, deadletters)
    detect.py       bus: events -> Sigma engine -> store (alerts, events), bus: alerts
    deadletters.py  bus: deadletters -> store (dead letters)
    group.py        bus: alerts -> incidents in the store (suppressions, folding, audit)
    deadlines.py    every check interval: open incidents -> breaches flagged, escalated

All but ingest.py (called once per request) are driven by one loop,
:mod:`soc.stages.runtime`: a :class:`~soc.stages.runtime.ConsumerStage` polls its
consumer group, processes a batch, and commits it once the output is durable;
a :class:`~soc.stages.runtime.PeriodicStage` ticks. Each stage keeps only what
is its own (``process(batch)`` or ``tick()``); the domain logic they call lives
in :mod:`soc.ingest`, :mod:`soc.detect` and :mod:`soc.incidents`. The wiring
that starts them is :mod:`soc.app`.
"""
