"""What the bundled rule folder holds, counted from the files (so tests follow new rules).

Every Sigma document with an id is one record of the rule catalog: a file may hold
several (a correlation with a silent stage, a rule and its filter).
"""

from __future__ import annotations

from soc.detect.ruletext import RuleDoc, describe
from soc.detections import RULES


def bundled_docs() -> list[RuleDoc]:
    """Every rule, filter and correlation document in the bundled rule files."""
    return [
        doc
        for path in sorted(RULES.rglob("*.yml"))
        for doc in describe(path.read_text(encoding="utf-8"))
        if doc.id is not None
    ]


BUNDLED_IDS = frozenset(doc.id for doc in bundled_docs() if doc.id is not None)
"""The ids the catalog holds after importing the bundled rules."""
