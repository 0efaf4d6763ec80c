"""What was sent and acknowledged: objects done, per dated folder and per loose folder.

A dated folder keeps its newest day and the names done in its window
(``lookback_days`` before that day); a loose folder, the names done in it. Its
JSON form is the registry state the package docstring shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

LOOKBACK_DAYS = 2
"""How many days before a folder's newest object late objects are still looked for."""

_DAY = re.compile(r"(\d{4})/(\d{2})/(\d{2})/")


@dataclass(frozen=True, slots=True)
class Object:
    folder: str
    name: str
    """The key after ``folder``."""
    dated: bool
    """In a dated folder's year folders (else loose, directly in ``folder``)."""

    @property
    def key(self) -> str:
        return self.folder + self.name


@dataclass(slots=True)
class _Dated:
    newest: str = ""
    """The newest day (``YYYY/MM/DD``) done, not in the future; "" before any."""
    done: set[str] = field(default_factory=set)


class Done:
    """Objects done, as the package docstring (connectors.sources.s3) describes."""

    def __init__(self, lookback_days: int) -> None:
        self.lookback_days = lookback_days
        self.dated: dict[str, _Dated] = {}
        self.loose: dict[str, set[str]] = {}

    def since(self, folder: str) -> str | None:
        """Where a dated folder's window starts (``YYYY/MM/DD``); None: from the start."""
        d = self.dated.get(folder)
        return _minus_days(d.newest, self.lookback_days) if d and d.newest else None

    def __contains__(self, obj: Object) -> bool:
        if obj.dated:
            d = self.dated.get(obj.folder)
            return d is not None and obj.name in d.done
        return obj.name in self.loose.get(obj.folder, ())

    def add(self, obj: Object) -> None:
        if not obj.dated:
            self.loose.setdefault(obj.folder, set()).add(obj.name)
            return
        d = self.dated.setdefault(obj.folder, _Dated())
        d.done.add(obj.name)
        day = _day(obj.name)
        if day and day > d.newest:
            d.newest = day
            since = _minus_days(day, self.lookback_days)
            d.done = {n for n in d.done if n >= since}

    def keep_loose(self, folder: str, listed: set[str]) -> None:
        """Forget loose objects of ``folder`` that are gone."""
        names = self.loose.get(folder)
        if names is not None:
            names &= listed
            if not names:
                del self.loose[folder]

    def to_json(self, bucket: str) -> dict[str, Any]:
        return {
            "version": 1,
            "bucket": bucket,
            "dated": {
                f: {"newest": d.newest, "done": sorted(d.done)} for f, d in self.dated.items()
            },
            "loose": {f: sorted(names) for f, names in self.loose.items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        try:
            for f, d in state.get("dated", {}).items():
                self.dated[f] = _Dated(str(d["newest"]), {str(n) for n in d["done"]})
            for f, names in state.get("loose", {}).items():
                self.loose[f] = {str(n) for n in names}
        except (AttributeError, KeyError, TypeError) as e:
            raise ValueError(f"S3 registry state is malformed: {e!r}") from e


def _day(name: str) -> str | None:
    """The ``YYYY/MM/DD`` a name starts with, when a real day not in the future."""
    m = _DAY.match(name)
    if not m:
        return None
    try:
        day = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    return m[0][:10] if day <= datetime.now(UTC).date() + timedelta(days=1) else None


def _minus_days(day: str, n: int) -> str:
    d = date(int(day[:4]), int(day[5:7]), int(day[8:10]))
    d = d - timedelta(days=n) if d > date.min + timedelta(days=n) else date.min
    return f"{d.year:04d}/{d.month:02d}/{d.day:02d}"
