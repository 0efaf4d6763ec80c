"""Uploads into the rule catalog: one YAML text, or a pack (a zip of them, like SigmaHQ's).

    result = await import_text(catalog, principal, name, text, settings.detect)
    texts = read_pack(zip_bytes)            # [(member name, text or the reason it is refused)]

A text is accepted only when it compiles with the detector's own loader and pipelines
(:func:`soc.detect.rules.compile_rule_text`) and every rule, filter and correlation in it has
an id (the rules a filter or correlation names are looked up by the detectors, across the
whole catalog: one that names no rule is reported there, like a rule that fails). Warnings
then say which named rules neither the catalog nor the upload holds, by id or name (a
pack's once all its files are in, so their order does not matter), and what pySigma's
validators that need no network find.
Each id becomes (or gets the next version of) a record of the catalog.

Who may change what (soc.security.roles): a text that changes a rule already in the
catalog reaches every tenant, so it needs a caller of every tenant (``*``); a caller of
some tenants may add new rules, which start on for their tenants only.

A pack is read in memory, never extracted: a member whose name is absolute or climbs out
(``..``), a member larger than :data:`MAX_RULE_TEXT`, more than :data:`PACK_MAX_MEMBERS`
members, more than :data:`PACK_MAX_BYTES` uncompressed in all, or a member compressed
more than :data:`PACK_MAX_RATIO` times is refused; sizes are checked as the bytes are
read, not only as the zip's directory declares them.
"""

from __future__ import annotations

import io
import lzma
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import PurePosixPath

from pydantic import BaseModel, Field

from soc.detect.catalog import RuleCatalog
from soc.detect.rules import RULE_SUFFIXES, compile_rule_text
from soc.detect.ruletext import MAX_RULE_TEXT, Finding, RuleDoc, describe, validate
from soc.errors import QueryError
from soc.security.principal import Principal
from soc.settings import DetectSettings

PACK_MAX_MEMBERS = 10_000
PACK_MAX_BYTES = 100_000_000
"""Uncompressed bytes of all a pack's rule files (SigmaHQ's whole release: ~20 MB)."""
PACK_MAX_RATIO = 100
"""Largest compression ratio of a member (YAML compresses ~5 times; a bomb thousands)."""


class SavedRule(BaseModel):
    id: str
    kind: str
    title: str
    revision: int
    changed: bool
    """False: the text was already the rule's current version (no new version)."""


class ImportResult(BaseModel):
    """What became of one text (a file of a pack, or a single upload)."""

    name: str
    accepted: bool
    reason: str | None = None
    """Why it was refused."""
    rules: list[SavedRule] = Field(default_factory=list)
    warnings: list[Finding] = Field(default_factory=list)


class PackReport(BaseModel):
    files: list[ImportResult]
    accepted: int
    refused: int
    skipped: list[str] = Field(default_factory=list)
    """Members that are not rule files (README, LICENSE...), left alone."""


def check_text(name: str, text: str, settings: DetectSettings) -> list[str]:
    """The reasons ``text`` cannot be a managed rule (empty: it can)."""
    try:
        docs = describe(text)
    except QueryError as e:
        return [str(e)]
    if not docs:
        return ["no Sigma rule, filter or correlation in it"]
    reasons = [f"the {d.kind} {d.title!r} has no id" for d in docs if d.id is None]
    # Compiled alone, not linked: a filter or correlation may name rules of other records,
    # which the detectors link across the whole catalog (soc.detect.live.build).
    _, _, errors, _ = compile_rule_text(text, name=name, pipelines=settings.pipelines)
    reasons += [e.reason for e in errors]
    return reasons


async def import_text(
    catalog: RuleCatalog,
    principal: Principal,
    name: str,
    text: str,
    settings: DetectSettings,
    *,
    expect_id: str | None = None,
    expect_revision: int | None = None,
    check_references: bool = True,
) -> ImportResult:
    """Validate and save ``text``; refused (not raised) with its reason when it cannot be.

    ``expect_id``: the text must hold this rule (a PUT of that rule's next version).
    ``check_references``: warn of named rules that are nowhere (a pack checks them once
    all its files are in).
    """
    reasons = check_text(name, text, settings)
    if reasons:
        return ImportResult(name=name, accepted=False, reason="; ".join(reasons[:5]))
    docs = described = describe(text)
    ids = [d.id for d in docs]
    if expect_id is not None and expect_id not in ids:
        return ImportResult(
            name=name, accepted=False, reason=f"the text holds no rule with the id {expect_id}"
        )
    if expect_id is not None:
        docs = [d for d in docs if d.id == expect_id]
    existing = [d.id for d in docs if d.id is not None and await catalog.read(d.id) is not None]
    if existing and not principal.all_tenants:
        return ImportResult(
            name=name,
            accepted=False,
            reason=f"rule {existing[0]} exists: changing a rule reaches every tenant, which "
            "needs a caller of every tenant ('*')",
        )
    tenants = None if principal.all_tenants else dict.fromkeys(principal.tenants, True)
    saved: list[SavedRule] = []
    for doc in docs:
        entry, changed = await catalog.save(
            principal.name,
            doc,
            text,
            origin="uploaded",
            enabled=tenants is None,
            tenants=tenants,
            expect_revision=expect_revision,
        )
        saved.append(
            SavedRule(
                id=entry.id,
                kind=entry.kind,
                title=entry.title,
                revision=entry.revision,
                changed=changed,
            )
        )
    missing = await missing_references(catalog, docs, described) if check_references else []
    return ImportResult(name=name, accepted=True, rules=saved, warnings=[*missing, *validate(text)])


async def missing_references(
    catalog: RuleCatalog, docs: Sequence[RuleDoc], beside: Sequence[RuleDoc] = ()
) -> list[Finding]:
    """A warning for every rule a correlation or filter of ``docs`` names (by id or name)
    that neither the catalog nor ``beside`` (the rest of the same upload) holds.

    Not a refusal: the rule may come in a later upload, and until then the detectors
    report the correlation or filter as not compiled (ADR 0014).
    """
    ids = {d.id for d in beside if d.id is not None}
    names = {d.name for d in beside if d.name is not None}
    unresolved: list[tuple[RuleDoc, str]] = []
    for doc in docs:
        for ref in dict.fromkeys(doc.references):
            if ref in ids or ref in names:
                continue
            if await catalog.read(ref) is not None:
                ids.add(ref)
                continue
            unresolved.append((doc, ref))
    if unresolved:
        names |= await catalog.names()
    return [
        Finding(
            validator="references",
            severity="high",
            description=f"the {doc.kind} {doc.title!r} names the rule {ref!r}, which no rule "
            "of the catalog or of this upload has as its id or name: it does not run until "
            "that rule is uploaded",
            rule_id=doc.id,
        )
        for doc, ref in unresolved
        if ref not in names
    ]


def _unsafe(name: str) -> str | None:
    posix = name.replace("\\", "/")
    if posix.startswith("/") or posix[1:2] == ":":
        return "an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "a path that climbs out of the pack ('..')"
    return None


def read_pack(data: bytes) -> tuple[list[tuple[str, str | None, str | None]], list[str]]:
    """The rule files of a zip: ([(name, text, refusal reason)], skipped names).

    Raises QueryError when the zip as a whole is unusable or over the limits.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, NotImplementedError, EOFError, OSError) as e:
        # NotImplementedError: "zip file version 23.6" (found by tests/fuzz)
        raise QueryError(f"not a zip file: {e}") from e
    # A member with an empty name (zipfile's is_dir() fails on it; found by tests/fuzz)
    # is no rule file: passed over like a README.
    members = [m for m in archive.infolist() if m.filename and not m.is_dir()]
    if len(members) > PACK_MAX_MEMBERS:
        raise QueryError(f"the pack has {len(members):,} files, more than {PACK_MAX_MEMBERS:,}")
    texts: list[tuple[str, str | None, str | None]] = []
    skipped: list[str] = []
    total = 0
    for member in members:
        name = member.filename
        if PurePosixPath(name).suffix.lower() not in RULE_SUFFIXES:
            skipped.append(name)
            continue
        unsafe = _unsafe(name)
        if unsafe:
            texts.append((name, None, f"refused: {unsafe}"))
            continue
        if member.file_size > MAX_RULE_TEXT:
            texts.append((name, None, f"larger than {MAX_RULE_TEXT:,} bytes"))
            continue
        if member.compress_size and member.file_size / member.compress_size > PACK_MAX_RATIO:
            texts.append((name, None, f"compressed more than {PACK_MAX_RATIO} times"))
            continue
        try:
            with archive.open(member) as f:
                raw = f.read(MAX_RULE_TEXT + 1)
        except (
            zipfile.BadZipFile,
            RuntimeError,
            OSError,
            NotImplementedError,
            ValueError,  # a local header that points before the file's start
            EOFError,
            zlib.error,
            lzma.LZMAError,
        ) as e:
            texts.append((name, None, f"cannot be read: {e}"))
            continue
        if len(raw) > MAX_RULE_TEXT:
            texts.append((name, None, f"larger than {MAX_RULE_TEXT:,} bytes"))
            continue
        total += len(raw)
        if total > PACK_MAX_BYTES:
            raise QueryError(f"the pack holds more than {PACK_MAX_BYTES:,} bytes of rules")
        try:
            texts.append((name, raw.decode("utf-8"), None))
        except UnicodeDecodeError:
            texts.append((name, None, "not UTF-8 text"))
    return texts, skipped


async def import_pack(
    catalog: RuleCatalog, principal: Principal, data: bytes, settings: DetectSettings
) -> PackReport:
    texts, skipped = read_pack(data)
    return await import_texts(catalog, principal, texts, settings, skipped=skipped)


async def import_texts(
    catalog: RuleCatalog,
    principal: Principal,
    texts: Sequence[tuple[str, str | None, str | None]],
    settings: DetectSettings,
    *,
    skipped: Sequence[str] = (),
) -> PackReport:
    files: list[ImportResult] = []
    saved: list[tuple[ImportResult, list[RuleDoc]]] = []
    for name, text, refused in texts:
        if text is None:
            files.append(ImportResult(name=name, accepted=False, reason=refused))
            continue
        result = await import_text(catalog, principal, name, text, settings, check_references=False)
        files.append(result)
        if result.accepted:
            saved.append((result, describe(text)))
    beside = [doc for _, docs in saved for doc in docs]
    for result, docs in saved:  # a file may name a rule of a later file: checked at the end
        result.warnings[:0] = await missing_references(catalog, docs, beside)
    accepted = sum(f.accepted for f in files)
    return PackReport(
        files=files, accepted=accepted, refused=len(files) - accepted, skipped=list(skipped)
    )
