"""The event mapping, measured: bytes per event and query times of each candidate.

    python bench/event_mapping.py                       # every recorded Windows campaign
    python bench/event_mapping.py --limit 20000 --keep  # fewer events, leave the indices

Reads the recorded Windows events (the bundled OTRF LSASS slice and the two OTRF
campaigns of /work/shared/datasets), normalizes them exactly as at ingest
(:func:`soc.ingest.ndjson.object_event`), and writes them through one bulk writer
(``--batch`` events a request, one process) into one index per candidate:

today     the mapping before the event store: ``raw`` and ``fields`` kept, not indexed
words     today's plus the ``text`` words alone (what full text costs)
wildcard  a ``wildcard`` field of every lower-cased ``name=value`` pair, plus the words
pairs     the chosen one (:func:`soc.store.opensearch.schema.event_doc`): ``keyword``
          pairs, a ``wildcard`` field for pairs too long for a keyword, numbers, names
          and words, all but the long pairs left out of ``_source``; top values counted
          on 64 doc-values-only slot fields (``top.sNN``)
pairs_dv  the same, but top values counted on doc values of ``pairs`` itself
flat      ``flat_object`` of the lower-cased pairs, plus the same ``text`` words
dynamic   dynamic templates: every field a lower-cased ``keyword`` under a field budget
          (``index.mapping.total_fields.limit``), plus the same ``text`` words

Then force-merges each index to one segment and prints, per candidate: events
written and refused, write rate, bytes per event on disk, and the median and p95
``took`` (ms) of an exact value, a ``*text*`` wildcard, a full-text word and the
top 10 values of a field; then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError

from soc.ingest.ndjson import object_event
from soc.ingest.readers import input_files, read_file
from soc.models import Event, utcnow
from soc.settings import OpenSearchSettings
from soc.store.eventquery import event_pairs
from soc.store.opensearch.schema import (
    EVENT_INDEX_FIELDS,
    KEYWORD_MAX,
    WORDS_ANALYZER,
    event_doc,
    event_index_fields,
    stats_slot,
    templates,
)
from soc.store.terms import micros

ROOT = Path(__file__).resolve().parents[1]
INPUTS = [
    ROOT / "soc/sample/otrf_lsass_slice.ndjson.gz",
    ROOT.parent / "shared/datasets/otrf/LSASS_campaign_01",
    ROOT.parent / "shared/datasets/otrf/LSASS_campaign_06",
]
PREFIX = "bench-mapping"
FIELD_BUDGET = 1000

EXACT = ("image", "c:\\windows\\system32\\svchost.exe")
WILDCARD = ("commandline", "*rundll32*")
WORD = "cmdletization"
STATS = "image"


def events(limit: int | None) -> Iterator[Event]:
    received = utcnow()
    n = 0
    for path in input_files(INPUTS):
        for item in read_file(path):
            if item.record is None:
                continue
            yield object_event(item.record, tenant="bench", source=item.source, received=received)
            n += 1
            if limit is not None and n >= limit:
                return


def _base(event: Event) -> dict[str, Any]:
    return {**event.model_dump(mode="json"), "time_us": micros(event.time)}


def _words(event: Event) -> dict[str, Any]:
    return {"words": event_index_fields(event)["words"]}


def _grouped(event: Event) -> dict[str, Any]:
    """The lower-cased pairs as one object: name -> value (or list of values)."""
    out: dict[str, Any] = {}
    for name, value in event_pairs(event):
        if name in out:
            old = out[name]
            out[name] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            out[name] = value
    return out


_WORDS_FIELD = {
    "type": "text",
    "analyzer": WORDS_ANALYZER,
    "norms": False,
    "index_options": "positions",
    "position_increment_gap": 100,
}


class Candidate:
    def __init__(
        self,
        name: str,
        mappings: dict[str, Any],
        settings: dict[str, Any],
        doc: Callable[[Event], dict[str, Any]],
        queries: dict[str, dict[str, Any] | None],
    ) -> None:
        self.name, self.mappings, self.settings, self.doc, self.queries = (
            name,
            mappings,
            settings,
            doc,
            queries,
        )


def candidates() -> list[Candidate]:
    chosen = templates(OpenSearchSettings(index_prefix=PREFIX))[f"{PREFIX}-events"]["template"]
    today_props = {
        k: v for k, v in chosen["mappings"]["properties"].items() if k not in EVENT_INDEX_FIELDS
    }
    exact, wild = f"{EXACT[0]}={EXACT[1]}", f"{WILDCARD[0]}={WILDCARD[1]}"
    word = {"term": {"words": WORD}}
    keyword_lower = {"type": "keyword", "normalizer": "lower", "ignore_above": 8191}
    return [
        Candidate(
            "today",
            {"dynamic": False, "properties": today_props},
            {},
            _base,
            {"exact": None, "wildcard": None, "word": None, "stats": None},
        ),
        Candidate(
            "words",
            {"dynamic": False, "properties": {**today_props, "words": _WORDS_FIELD}},
            {},
            lambda e: {**_base(e), **_words(e)},
            {"exact": None, "wildcard": None, "word": word, "stats": None},
        ),
        Candidate(
            "wildcard",
            {
                "dynamic": False,
                "properties": {**today_props, "w": {"type": "wildcard"}, "words": _WORDS_FIELD},
            },
            {},
            lambda e: {**_base(e), "w": [f"{n}={v}" for n, v in event_pairs(e)], **_words(e)},
            {
                "exact": {"term": {"w": exact}},
                "wildcard": {"wildcard": {"w": wild}},
                "word": word,
                "stats": None,
            },
        ),
        Candidate(
            "pairs",
            chosen["mappings"],
            {k: v for k, v in chosen["settings"].items() if not k.startswith("number_of")},
            lambda e: event_doc(PREFIX, e, "r90d")[2],
            {
                "exact": {"term": {"pairs": exact}},
                "wildcard": {"wildcard": {"pairs": wild}},
                "word": word,
                "stats": {
                    "terms": {
                        "field": f"top.{stats_slot(STATS)}",
                        "include": f"{STATS}=.*",
                        "size": 10,
                    }
                },
            },
        ),
        Candidate(
            "pairs_dv",
            {
                **chosen["mappings"],
                "properties": {
                    **{k: v for k, v in chosen["mappings"]["properties"].items() if k != "top"},
                    "pairs": {"type": "keyword", "ignore_above": KEYWORD_MAX},
                },
            },
            {k: v for k, v in chosen["settings"].items() if not k.startswith("number_of")},
            lambda e: {k: v for k, v in event_doc(PREFIX, e, "r90d")[2].items() if k != "top"},
            {
                "exact": {"term": {"pairs": exact}},
                "wildcard": {"wildcard": {"pairs": wild}},
                "word": word,
                "stats": {"terms": {"field": "pairs", "include": f"{STATS}=.*", "size": 10}},
            },
        ),
        Candidate(
            "flat",
            {
                "dynamic": False,
                "properties": {**today_props, "f": {"type": "flat_object"}, "words": _WORDS_FIELD},
            },
            {},
            lambda e: {**_base(e), "f": _grouped(e), **_words(e)},
            {
                "exact": {"term": {f"f.{EXACT[0]}": EXACT[1]}},
                "wildcard": {"wildcard": {f"f.{WILDCARD[0]}": WILDCARD[1]}},
                "word": word,
                "stats": {"terms": {"field": f"f.{STATS}", "size": 10}},
            },
        ),
        Candidate(
            "dynamic",
            {
                "dynamic": False,
                "properties": {
                    **today_props,
                    "x": {"type": "object", "dynamic": True},
                    "words": _WORDS_FIELD,
                },
                "dynamic_templates": [
                    {"all": {"path_match": "x.*", "mapping": keyword_lower}},
                ],
            },
            {
                "index.mapping.total_fields.limit": FIELD_BUDGET,
                "analysis": {"normalizer": {"lower": {"type": "custom", "filter": ["lowercase"]}}},
            },
            lambda e: {
                **_base(e),
                "x": {n.replace(".", "_"): v for n, v in _grouped(e).items()},
                **_words(e),
            },
            {
                "exact": {"term": {f"x.{EXACT[0]}": EXACT[1]}},
                "wildcard": {"wildcard": {f"x.{WILDCARD[0]}": WILDCARD[1]}},
                "word": word,
                "stats": {"terms": {"field": f"x.{STATS}", "size": 10}},
            },
        ),
    ]


def _bulk(client: OpenSearch, body: bytes) -> dict[str, Any]:
    """One bulk request, sent again while the cluster pushes back (429: other writers)."""
    for wait in (0.5, 1, 2, 4, 8, 16, 32):
        try:
            response: dict[str, Any] = client.bulk(
                body=body, params={"filter_path": "errors,items.*.error.type"}
            )
            return response
        except TransportError as e:
            if e.status_code != 429:
                raise
            time.sleep(wait)
    raise RuntimeError("the cluster refused a bulk write for a minute (429)")


def load(client: OpenSearch, c: Candidate, data: list[Event], batch: int) -> dict[str, Any]:
    index = f"{PREFIX}-{c.name}"
    client.indices.delete(index=index, ignore_unavailable=True)
    settings = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "30s"}
    client.indices.create(
        index=index, body={"settings": {**settings, **c.settings}, "mappings": c.mappings}
    )
    refused: dict[str, int] = {}
    started = time.perf_counter()
    for i in range(0, len(data), batch):
        lines: list[bytes] = []
        for e in data[i : i + batch]:
            lines += [
                orjson.dumps({"create": {"_index": index, "_id": e.id}}),
                orjson.dumps(c.doc(e)),
            ]
        lines.append(b"")
        response = _bulk(client, b"\n".join(lines))
        if response.get("errors"):
            for item in response["items"]:
                error = next(iter(item.values())).get("error")
                if error:
                    refused[error["type"]] = refused.get(error["type"], 0) + 1
    seconds = time.perf_counter() - started
    client.indices.refresh(index=index)
    docs, size = merged_size(client, index)
    return {
        "written": docs,
        "refused": refused,
        "events_per_s": round(len(data) / seconds),
        "bytes_per_event": round(size / max(docs, 1)),
    }


def merged_size(client: OpenSearch, index: str) -> tuple[int, int]:
    """Documents and bytes on disk of ``index`` merged to one segment.

    The store size right after a force-merge still counts the segments it replaced
    (their files go at the next refresh), so the live segments are summed instead.
    """
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=600)
    client.indices.refresh(index=index)
    segments = client.cat.segments(index=index, format="json", bytes="b", h="docs.count,size")
    return sum(int(s["docs.count"]) for s in segments), sum(int(s["size"]) for s in segments)


def timed(client: OpenSearch, index: str, query: dict[str, Any], runs: int) -> dict[str, Any]:
    body: dict[str, Any]
    if "terms" in query and "field" in query["terms"]:
        body = {"size": 0, "aggs": {"top": query}}
    else:
        body = {"size": 50, "query": {"bool": {"filter": [query]}}, "track_total_hits": True}
    params = {"request_cache": "false"}
    try:
        first = client.search(index=index, body=body, params=params)
    except Exception as e:  # a candidate that cannot answer is a figure too
        return {"error": str(e)[:160]}
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        client.search(index=index, body=body, params=params)
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    hits = first["hits"]["total"]["value"] if "query" in body else None
    top = first.get("aggregations", {}).get("top", {}).get("buckets", [])
    return {
        "p50_ms": round(statistics.median(took), 2),
        "p95_ms": round(took[math.ceil(len(took) * 0.95) - 1], 2),
        "hits": hits if hits is not None else (top[0]["doc_count"] if top else 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:19200")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    client = OpenSearch(hosts=[args.url], timeout=600)
    data = list(events(args.limit))
    print(f"{len(data):,} recorded events")
    results: dict[str, Any] = {}
    for c in candidates():
        if args.only and c.name not in args.only:
            continue
        result = load(client, c, data, args.batch)
        for shape, query in c.queries.items():
            if query is not None:
                result[shape] = timed(client, f"{PREFIX}-{c.name}", query, args.runs)
        results[c.name] = result
        print(c.name, json.dumps(result))
        if not args.keep:
            client.indices.delete(index=f"{PREFIX}-{c.name}")
    print(json.dumps({"events": len(data), "candidates": results}))


if __name__ == "__main__":
    main()
