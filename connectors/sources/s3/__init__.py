"""Amazon S3 and S3-compatible storage: CloudTrail log files, one object a record.

    src = S3Source(cfg, ctx)    # cfg: connectors.config.S3Source
    await src.run(emit)         # Batch(kind="document", stream="s3://<bucket>/<key>",
                                #       first_seq=0, records=[Frame(<the JSON>)], checkpoint=...)

Every ``interval_s`` the source lists the bucket under ``prefix``, downloads
each object it has not sent yet (gunzipped when it starts with the gzip magic
bytes, as is otherwise) and emits it whole as one ``document`` record. boto3
blocks, so every call runs in a thread.

Finding new objects
-------------------
CloudTrail writes ``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz``.
Keys sort by date only inside one account and region, and files arrive late
(minutes, more in an outage), so one StartAfter marker for the bucket would
skip a region that sorts before it or a late file of an earlier day. Listing
the whole bucket each poll would not skip anything, but a trail's bucket grows
by some 300 files a region a day, forever.

So each poll walks the folders under ``prefix`` with ``Delimiter="/"``. A
folder holding year folders (``2024/``) is *dated* (one account and region).
Its year folders are listed flat from ``StartAfter=<folder><newest day - lookback>``,
where the newest day is that of the newest object sent from the folder and
``lookback_days`` is 2 by default; with nothing sent yet, from the start of the
folder (a new source reads the bucket's whole history once). Objects of that
window already sent are skipped by name. Any other folder is walked down;
objects lying directly in a folder (*loose*) are listed whole each poll.
``CloudTrail-Digest/`` folders are skipped: digest files are not logs. An
object whose key ends in ``/`` (a folder marker) is not a log either.

State, saved in the registry only by :meth:`S3Source.commit`::

    {"version": 1, "bucket": "trail-logs",
     "dated": {"AWSLogs/123456789012/CloudTrail/us-east-1/":
                  {"newest": "2024/03/06", "done": ["2024/03/04/<file>", ...]}},
     "loose": {"<folder>/": ["<file>", ...]}}

``done`` holds the acknowledged objects of the window only: a name sorting
before the window's start is dropped, as it is never listed again; a loose
name is dropped once the object is gone. In memory the source keeps a second,
such state of what it *sent*, acknowledged or not, which drives the listing,
so a poll never sends an object twice; after a restart only the acknowledged
state is left, so what was sent but not acknowledged is read again (and keeps
its stream and sequence number, so the destination can tell it is a replay).
The window the acknowledged state keeps always covers the window the next
listing reads, as the sent state's newest day is never older.

Limits, by design: an object dated more than ``lookback_days`` before the
newest object already sent from its folder (delivered that late), or whose
name sorts before the window without a date, is not seen; an object
rewritten under a key already sent is not read again (CloudTrail never
rewrites a file); a day in the future (a clock or a name gone wrong) does not
move the window. A bucket not laid out by date costs a full listing each
poll and a registry entry per object.

Errors
------
* The endpoint down, 5xx, throttling, bad credentials, access denied, an
  unreadable secret file: the call is retried ``attempts`` times with back-off,
  then the poll stops, is logged and is retried after ``min(interval_s, back-off)``;
  :meth:`ready` is False until a listing succeeds (again; also before the
  first). The object being read is not sent, so nothing is lost however long
  the outage; but an object denied to the credentials (a KMS key not granted)
  stops the source at it, at ERROR, until an operator grants it.
* An object that cannot be read for its own sake (bad or cut-off gzip, a
  ``.gz`` key that is not gzip, deleted since it was listed, archived), after
  ``attempts`` downloads, or one over ``max_object_bytes`` decompressed (256 MiB,
  the parsers' document limit; at once): logged at ERROR and emitted as one
  *error record*, so the agent ships one parse-error event rather than nothing:
  ``Frame(data=<one line of text>, error="truncated" | "too_large", size=<bytes>)``,
  the text naming the object, the error and the object's first 4 KiB in base64.
  Parsed as a frame it gives a ``truncated``/``too_large`` error event, parsed
  as a document (one line, not JSON) a ``not_json`` one: one event either way.
"""

from connectors.sources.s3.source import S3Source

__all__ = ["S3Source"]
