"""The rule catalog: detection rules, filters and correlations as versioned records in the store.

    catalog = RuleCatalog(store, audit)
    entry, changed = await catalog.save(actor, doc, text, origin="uploaded")  # new, or next version
    entry = await catalog.set_enabled(actor, rule_id, False, tenants=["hue-ioc"])
    generation = await catalog.generation()                          # changes on every change

Each rule is one record of kind ``rule`` (id: the Sigma id) holding its current version
(:class:`RuleEntry`: YAML text, its SHA-256, revision 1, 2, ..., who and when, origin,
enablement, and the metadata the rules page searches), and one record of kind
``rule_version`` per version (:class:`RuleRevision`, id ``<rule id>@<n>``), never changed
once written. A text may hold several rules (a collection, a correlation with its base
rules): each id's record keeps the whole text, and compiling it keeps that id's rule.

Enablement is a default for every tenant plus per-tenant overrides; a rule is on for a
tenant when its override says so, else when the default does.

Every change bumps the catalog's generation (one record of kind ``rule_generation``,
written with the version it read), after the rule's own records are written: a detector
that sees a new generation reads every change it stands for (soc.detect.live). Every
change is audited (who, the rule, its revision and SHA-256, the enablement).

Rule files (``detect.rules``) are the baseline: :func:`sync_files` imports them at
start (ADR 0014). A file whose text changed since its last import becomes the rule's next
version, unless the rule's current version was uploaded (API or ``soc rules import``):
the upload wins, the record notes ``file_differs``, and a warning is logged.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from soc.audit.trail import AuditTrail
from soc.detect.rules import RULE_SUFFIXES
from soc.detect.ruletext import RuleDoc, RuleKind, describe
from soc.errors import Conflict, NotFound, QueryError
from soc.log import get_logger
from soc.models import LogSource, UtcDatetime, utcnow
from soc.settings import DetectSettings
from soc.store.records import NO_TENANT, Kind, Record, RecordQuery, Records, every
from soc.store.terms import micros, words

log = get_logger(__name__)

RuleOrigin = Literal["file", "uploaded"]
GENERATION_ID = "catalog"
SAVE_TRIES = 5
FILE_ACTOR = "soc:rule-files"
"""The actor of versions imported from ``detect.rules`` at start."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class RuleRevision(BaseModel):
    """One version of a rule, as it was saved: never changed afterwards."""

    rule_id: str
    revision: int = Field(ge=1)
    kind: RuleKind
    yaml: str
    sha256: str
    origin: RuleOrigin
    path: str | None = None
    """The rule file it came from (relative to its ``detect.rules`` folder)."""
    actor: str
    time: UtcDatetime


class RuleEntry(BaseModel):
    """A rule's current version, its enablement, and what the rules page searches."""

    id: str
    kind: RuleKind
    revision: int = Field(ge=1)
    yaml: str
    sha256: str
    origin: RuleOrigin
    path: str | None = None
    title: str
    level: str | None = None
    status: str | None = None
    tags: list[str] = Field(default_factory=list)
    techniques: list[str] = Field(default_factory=list)
    logsource: LogSource = Field(default_factory=LogSource)
    author: str | None = None
    description: str | None = None
    name: str | None = None
    """The rule's ``name`` (None also for an entry saved before names were kept)."""
    enabled: bool = True
    """The default for every tenant."""
    tenants: dict[str, bool] = Field(default_factory=dict)
    """Per-tenant overrides of the default."""
    file_sha256: str | None = None
    """SHA-256 of the rule file's text when last imported (None: never from a file)."""
    file_differs: bool = False
    """The rule file changed after an upload became current: the upload was kept."""
    created: UtcDatetime
    created_by: str
    updated: UtcDatetime
    updated_by: str

    def enabled_for(self, tenant: str) -> bool:
        return self.tenants.get(tenant, self.enabled)

    @property
    def anywhere(self) -> bool:
        """On for at least one tenant: the engine needs it."""
        return self.enabled or any(self.tenants.values())


class RuleFilter(BaseModel):
    """The rules page's search: every given part must match (``q``: every word)."""

    q: str | None = None
    kind: RuleKind | None = None
    level: str | None = None
    status: str | None = None
    tag: str | None = None
    technique: str | None = None
    product: str | None = None
    category: str | None = None
    service: str | None = None
    origin: RuleOrigin | None = None


def _terms(entry: RuleEntry) -> dict[str, list[str]]:
    ls = entry.logsource
    terms: dict[str, list[str]] = {
        "kind": [entry.kind],
        "origin": [entry.origin],
        "tag": entry.tags,
        "technique": [t.lower() for t in entry.techniques],
        "enabled": ["1" if entry.enabled else "0"],
    }
    for name, value in (
        ("level", entry.level),
        ("status", entry.status),
        ("product", ls.product),
        ("category", ls.category),
        ("service", ls.service),
    ):
        if value:
            terms[name] = [value.lower()]
    return {name: values for name, values in terms.items() if values}


def _words(entry: RuleEntry) -> list[str]:
    ls = entry.logsource
    text = " ".join(
        [
            entry.id,
            entry.title,
            entry.description or "",
            *entry.tags,
            *entry.techniques,
            ls.product or "",
            ls.category or "",
            ls.service or "",
        ]
    )
    return words(text)


def _record(entry: RuleEntry, sort: int) -> Record:
    return Record(
        kind=Kind.rule,
        id=entry.id,
        tenant=NO_TENANT,
        sort=sort,
        terms=_terms(entry),
        words=_words(entry),
        doc=entry.model_dump(mode="json"),
    )


def _version_record(revision: RuleRevision) -> Record:
    return Record(
        kind=Kind.rule_version,
        id=f"{revision.rule_id}@{revision.revision}",
        tenant=NO_TENANT,
        sort=revision.revision,
        terms={"rule": [revision.rule_id]},
        doc=revision.model_dump(mode="json"),
    )


def _audited(entry: RuleEntry) -> dict[str, object]:
    return {
        "revision": entry.revision,
        "sha256": entry.sha256,
        "kind": entry.kind,
        "title": entry.title,
        "origin": entry.origin,
        "enabled": entry.enabled,
        "tenants": dict(entry.tenants),
    }


def _query(f: RuleFilter, *, limit: int, after: tuple[int, str] | None) -> RecordQuery:
    terms: dict[str, list[str]] = {}
    for name in ("kind", "level", "status", "tag", "technique", "product", "category", "service"):
        value = getattr(f, name)
        if value:
            terms[name] = [str(value).lower()]
    if f.origin:
        terms["origin"] = [f.origin]
    return RecordQuery(
        kind=Kind.rule,
        tenants=None,
        terms=terms,
        words=words(f.q or ""),
        limit=limit,
        after=after,
    )


class RuleCatalog:
    """The rule records of one store, and the audit trail every change goes to."""

    def __init__(self, records: Records, audit: AuditTrail) -> None:
        self._records = records
        self._audit = audit

    @property
    def audit(self) -> AuditTrail:
        return self._audit

    # --- reading ------------------------------------------------------------------------

    async def generation(self) -> int:
        """A number that changes whenever a rule does (0: nothing saved yet); one read."""
        record = await self._records.get_record(Kind.rule_generation, GENERATION_ID)
        return 0 if record is None else record.version

    async def read(self, rule_id: str) -> tuple[RuleEntry, int] | None:
        """The entry and its record's version (for the next write), or None."""
        record = await self._records.get_record(Kind.rule, rule_id)
        if record is None:
            return None
        return RuleEntry.model_validate(record.doc), record.version

    async def get(self, rule_id: str) -> RuleEntry:
        found = await self.read(rule_id)
        if found is None:
            raise NotFound(f"no rule {rule_id}")
        return found[0]

    async def revisions(self, rule_id: str) -> list[RuleRevision]:
        """Every version of the rule, newest first."""
        query = RecordQuery(
            kind=Kind.rule_version, tenants=None, terms={"rule": [rule_id]}, limit=500
        )
        return [RuleRevision.model_validate(r.doc) async for r in every(self._records, query)]

    async def revision(self, rule_id: str, n: int) -> RuleRevision:
        record = await self._records.get_record(Kind.rule_version, f"{rule_id}@{n}")
        if record is None:
            raise NotFound(f"rule {rule_id} has no version {n}")
        return RuleRevision.model_validate(record.doc)

    async def search(
        self, f: RuleFilter, *, limit: int = 50, after: tuple[int, str] | None = None
    ) -> tuple[list[RuleEntry], tuple[int, str] | None]:
        """A page of matching rules, last changed first, and where the next page starts."""
        page = await self._records.find_records(_query(f, limit=limit, after=after))
        return [RuleEntry.model_validate(r.doc) for r in page.items], page.next

    async def each(self) -> AsyncIterator[RuleEntry]:
        """Every rule of the catalog."""
        query = RecordQuery(kind=Kind.rule, tenants=None, limit=1000)
        async for record in every(self._records, query):
            yield RuleEntry.model_validate(record.doc)

    async def names(self) -> set[str]:
        """The ``name`` of every rule of the catalog that has one (read from the text of
        an entry saved before names were kept)."""
        found: set[str] = set()
        async for entry in self.each():
            if entry.name is not None:
                found.add(entry.name)
                continue
            with contextlib.suppress(QueryError):
                found.update(d.name for d in describe(entry.yaml) if d.id == entry.id and d.name)
        return found

    # --- writing ------------------------------------------------------------------------

    async def _bump(self) -> None:
        for _ in range(SAVE_TRIES * 4):
            record = await self._records.get_record(Kind.rule_generation, GENERATION_ID)
            version = 0 if record is None else record.version
            try:
                await self._records.put_record(
                    Record(
                        kind=Kind.rule_generation,
                        id=GENERATION_ID,
                        tenant=NO_TENANT,
                        sort=micros(utcnow()),
                        doc={"updated": utcnow().isoformat()},
                    ),
                    expect=version,
                )
                return
            except Conflict:
                continue
        raise Conflict("rules: the catalog generation kept moving", expected=0, found=None)

    async def _write(self, entry: RuleEntry, expect: int) -> None:
        await self._records.put_record(_record(entry, micros(entry.updated)), expect=expect)

    async def save(
        self,
        actor: str,
        doc: RuleDoc,
        text: str,
        *,
        origin: RuleOrigin,
        path: str | None = None,
        enabled: bool = True,
        tenants: dict[str, bool] | None = None,
        expect_revision: int | None = None,
        audit: bool = True,
    ) -> tuple[RuleEntry, bool]:
        """Make ``text`` the current version of ``doc``'s rule; (entry, whether it changed).

        A new rule starts at revision 1 with ``enabled``/``tenants``; a known one keeps its
        enablement and gets the next revision, unless its text is already this one.
        ``expect_revision``: refuse (Conflict) unless the current revision is that one.
        """
        if doc.id is None:
            raise QueryError(f"the {doc.kind} {doc.title!r} has no id: a managed rule needs one")
        digest = sha256(text)
        for _ in range(SAVE_TRIES):
            found = await self.read(doc.id)
            now = utcnow()
            current, version = found if found else (None, 0)
            if expect_revision is not None and (current.revision if current else 0) != (
                expect_revision
            ):
                raise Conflict(
                    f"rule {doc.id} is at revision {current.revision if current else 0}, "
                    f"not {expect_revision}",
                    expected=expect_revision,
                    found=current.revision if current else 0,
                )
            if current is not None and current.sha256 == digest and current.kind == doc.kind:
                if origin == "file" and current.file_sha256 != digest:
                    current = current.model_copy(update={"file_sha256": digest})
                    try:
                        await self._write(current, version)
                    except Conflict:
                        continue
                return current, False
            revision = (current.revision if current else 0) + 1
            entry = RuleEntry(
                id=doc.id,
                kind=doc.kind,
                revision=revision,
                yaml=text,
                sha256=digest,
                origin=origin,
                path=path,
                title=doc.title,
                level=doc.level,
                status=doc.status,
                tags=doc.tags,
                techniques=doc.techniques,
                logsource=doc.logsource,
                author=doc.author,
                description=doc.description,
                name=doc.name,
                enabled=current.enabled if current else enabled,
                tenants=dict(current.tenants) if current else dict(tenants or {}),
                file_sha256=digest
                if origin == "file"
                else (current.file_sha256 if current else None),
                file_differs=False,
                created=current.created if current else now,
                created_by=current.created_by if current else actor,
                updated=now,
                updated_by=actor,
            )
            try:
                await self._write(entry, version)
            except Conflict:
                continue
            # Only the writer whose rule record won holds this revision number: it alone
            # writes the version record (a crash in between leaves the version unlisted).
            with contextlib.suppress(Conflict):
                await self._records.put_record(
                    _version_record(
                        RuleRevision(
                            rule_id=entry.id,
                            revision=revision,
                            kind=entry.kind,
                            yaml=text,
                            sha256=digest,
                            origin=origin,
                            path=path,
                            actor=actor,
                            time=now,
                        )
                    ),
                    expect=0,
                )
            await self._bump()
            if audit:
                await self._audit.append(
                    actor=actor,
                    tenant=None,
                    action="rule.create" if current is None else "rule.update",
                    target=f"rule:{entry.id}",
                    before=_audited(current) if current else None,
                    after=_audited(entry),
                )
            log.info(
                "rule saved",
                extra={"rule": entry.id, "revision": revision, "origin": origin, "actor": actor},
            )
            return entry, True
        raise Conflict(f"rule {doc.id} kept changing; try again", expected=0, found=None)

    async def set_enabled(
        self, actor: str, rule_id: str, enabled: bool, *, tenants: Sequence[str] | None
    ) -> RuleEntry:
        """Turn the rule on or off for ``tenants`` (overrides), or by default (None)."""
        for _ in range(SAVE_TRIES):
            found = await self.read(rule_id)
            if found is None:
                raise NotFound(f"no rule {rule_id}")
            current, version = found
            overrides = dict(current.tenants)
            default = current.enabled
            if tenants is None:
                default = enabled
            else:
                overrides.update(dict.fromkeys(tenants, enabled))
            if default == current.enabled and overrides == current.tenants:
                return current
            entry = current.model_copy(
                update={
                    "enabled": default,
                    "tenants": overrides,
                    "updated": utcnow(),
                    "updated_by": actor,
                }
            )
            try:
                await self._write(entry, version)
            except Conflict:
                continue
            await self._bump()
            await self._audit.append(
                actor=actor,
                tenant=tenants[0] if tenants and len(tenants) == 1 else None,
                action="rule.enable" if enabled else "rule.disable",
                target=f"rule:{rule_id}",
                before=_audited(current),
                after={**_audited(entry), "changed_tenants": list(tenants) if tenants else None},
            )
            return entry
        raise Conflict(f"rule {rule_id} kept changing; try again", expected=0, found=None)

    async def note_file_differs(self, rule_id: str, file_sha: str) -> None:
        """The rule's file changed while an upload is current: say so on the record."""
        found = await self.read(rule_id)
        if found is None:
            return
        current, version = found
        if current.file_sha256 == file_sha and current.file_differs:
            return
        entry = current.model_copy(update={"file_sha256": file_sha, "file_differs": True})
        try:
            await self._write(entry, version)
        except Conflict:
            return  # changed meanwhile; the next start looks again


# --- rule files: the baseline -----------------------------------------------------------


class FileSync(BaseModel):
    """What one import of the rule files did."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    kept_uploaded: list[str] = Field(default_factory=list)
    """Rules whose file changed while an uploaded version is current: the upload was kept."""
    unchanged: int = 0
    refused: list[str] = Field(default_factory=list)
    """Files that hold no usable document (``path: reason``), or a document without id."""


def rule_files(paths: Sequence[Path | str]) -> Iterator[tuple[Path, str]]:
    """(file, its path relative to the folder given) for every rule file, in sorted order."""
    for given in map(Path, paths):
        if given.is_dir():
            for file in sorted(given.rglob("*")):
                if file.suffix.lower() in RULE_SUFFIXES and file.is_file():
                    yield file, file.relative_to(given).as_posix()
        elif given.is_file():
            yield given, given.name


async def sync_files(catalog: RuleCatalog, settings: DetectSettings) -> FileSync:
    """Import ``settings.rules`` into the catalog (see the module docstring); idempotent,
    and safe with several processes importing at once."""
    report = FileSync()
    for file, relative in rule_files(settings.rules):
        try:
            text = file.read_text(encoding="utf-8")
            docs = describe(text)
        except (OSError, UnicodeDecodeError, QueryError) as e:
            report.refused.append(f"{relative}: {e}")
            continue
        digest = sha256(text)
        for doc in docs:
            if doc.id is None:
                report.refused.append(f"{relative}: {doc.kind} {doc.title!r} has no id")
                continue
            found = await catalog.read(doc.id)
            if found is not None and found[0].file_sha256 == digest:
                report.unchanged += 1
                continue
            if found is not None and found[0].origin == "uploaded":
                await catalog.note_file_differs(doc.id, digest)
                report.kept_uploaded.append(doc.id)
                log.warning(
                    "rule file changed but an uploaded version is current: kept the upload",
                    extra={"rule": doc.id, "path": relative, "revision": found[0].revision},
                )
                continue
            entry, changed = await catalog.save(
                FILE_ACTOR, doc, text, origin="file", path=relative, audit=False
            )
            if changed:
                (report.updated if entry.revision > 1 else report.created).append(doc.id)
            else:
                report.unchanged += 1
    if report.created or report.updated:
        await catalog.audit.append(
            actor=FILE_ACTOR,
            tenant=None,
            action="rule.import_files",
            target="rules:files",
            after={
                "created": report.created,
                "updated": report.updated,
                "rules": await _revisions_of(catalog, [*report.created, *report.updated]),
            },
        )
    for refused in report.refused:
        log.warning("rule file not imported", extra={"reason": refused})
    log.info(
        "rule files imported",
        extra={
            "new": len(report.created),
            "updated": len(report.updated),
            "kept_uploaded": len(report.kept_uploaded),
            "unchanged": report.unchanged,
            "refused": len(report.refused),
        },
    )
    return report


async def _revisions_of(catalog: RuleCatalog, ids: list[str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for rule_id in ids:
        found = await catalog.read(rule_id)
        if found is not None:
            out.append({"id": rule_id, "revision": found[0].revision, "sha256": found[0].sha256})
    return out
