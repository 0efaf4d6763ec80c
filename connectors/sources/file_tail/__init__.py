"""Follow growing log files, as Filebeat's log input does: rotation, truncation, restarts.

    src = FileTailSource(cfg, ctx)   # cfg: connectors.config.FileSource
    await src.run(emit)              # Batch(kind="line", stream="803:1835:9f2c41d07a3be815",
                                     #       first_seq=n, records=[Frame(b"<line>"), ...],
                                     #       checkpoint={"offset": ..., "seq": ..., ...})

Every ``scan_interval_s`` the ``paths`` globs are expanded (``**`` allowed),
less the ``exclude`` globs (matched against the whole path and the file
name), and every regular file found is read from where it was left, in
chunks of 256 KiB, a file at most 8 MiB at a time before the next one's turn.

Lines end at LF; a CR before it is dropped; a blank line is a line too (the
agent ships it as an ``empty`` error event: nothing read goes unsaid). A
last line without its LF is held until the LF arrives, or, once its file is
rotated away (renamed or deleted) and inactive, shipped as it is. A line over
``max_line_bytes`` is never held whole: it gives
``Frame(<its first 64 KiB>, error="too_large", size=<its length>)`` and the
rest of it is skipped. Lines go out in batches of at most 500 lines or about 1 MiB,
through ``emit``; while ``emit`` waits (the agent's spool is full), nothing is
read.

Files and streams
-----------------
A file is its device and inode plus the SHA-256 of its first line (at most
1 KiB: ``head``), which names its stream, ``<dev>:<inode>:<head, 16 hex>``.
The name holds across renames and restarts, and a new file that gets an old
one's inode (once the old one is deleted) has another first line, so another
stream. A file first read from its end (``start_at: end``, from after its last
whole line; files present at the first scan only: a file created later is read
from its start) has ``@<offset>`` added, so that its numbers never clash with
another start's.
``seq`` counts the lines of a stream from 0; too-large lines count too.

Rotation and truncation
-----------------------
Renamed (``access.log`` -> ``access.log.1``): the inode is followed, under its
new name if the globs match it, else held open and read to its end until
inactive; the new file at the old name is read from its start, after the old
one. Deleted: read to its end until inactive, like a renamed one. Truncated
(copytruncate) or rewritten in place, seen by its size dropping below the
read position or its first KiB changing: logged, and read again from 0, as a
new stream when its first line changed, else as the same stream with its
numbers going on. A file inactive ``close_inactive_s`` is closed, and
reopened (its first KiB checked again) when it changes.

Positions, saved in the registry only by :meth:`FileTailSource.commit`::

    {"version": 1, "files": {"803:1835:9f2c41d07a3be815": {
        "path": "/var/log/auth.log", "dev": 2051, "ino": 1835, "offset": 81920,
        "seq": 1024, "fp": "<sha256 of the first fp_len bytes>", "fp_len": 1024,
        "rotated": false}}}

``offset`` is just after the last line committed and ``seq`` the next line's
number (a ``zeek`` source's entry also keeps ``header``, the Zeek header lines in
force at ``offset``, handed with the first batch read from there as
``Batch.preamble``; an entry without it takes the file's first header), so
after a restart the lines not acknowledged are read again with the same stream
and numbers. At start a file takes the entry of its stream when
its first ``fp_len`` bytes still hash to ``fp`` and it is not shorter than
``offset``; when they differ it was rewritten meanwhile and is read again from
0 (numbers going on). An entry whose file has not been seen for
``forget_after_s`` (a day) is removed.

Limits, by design (Filebeat's too): lines written to a file after it was
closed for inactivity and before it was renamed out of the globs are not read;
with copytruncate, lines written between the last read and the truncation are
lost, and a copy the globs match is read as a file of its own (exclude it).
Two contents of one inode with the same first line (a constant header, then
inode reuse) are told apart only by their first KiB and continue one stream.
"""

from connectors.sources.file_tail.source import FileTailSource

__all__ = ["FileTailSource"]
