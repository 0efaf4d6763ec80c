"""The event query language: what each form parses to, and errors that point at the column."""

from __future__ import annotations

import pytest

from soc.store.eventquery import (
    AllOf,
    AnyOf,
    Contains,
    Equals,
    Exists,
    Like,
    Not,
    Nothing,
    QuerySyntaxError,
    Range,
    WordPrefix,
    Words,
    parse,
    pattern_parts,
)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("", None),
        ("   ", None),
        ("EventID:4688", Equals("eventid", "4688")),
        ('User:"NT AUTHORITY\\\\SYSTEM"', Contains("user", "nt authority\\system")),
        ("Image:*\\\\lsass.exe", Like("image", "*\\\\lsass.exe")),
        ("Image:C\\:\\\\Windows\\*", Equals("image", "c:\\windows*")),
        ("host:WS0?", Like("host", "ws0?")),
        ("EventID:[4600 TO 4700}", Range("eventid", "4600", "4700", True, False)),
        ("EventID:>=5000", Range("eventid", "5000", None, True, True)),
        ("EventID:<13", Range("eventid", None, "13", True, False)),
        ("x:[* TO b]", Range("x", None, "b")),
        ("_exists_:CommandLine", Exists("commandline")),
        ("mimikatz", Words(("mimikatz",))),
        ("lsass.exe", Words(("lsass", "exe"), phrase=True)),
        ('"Invoke  Mimikatz"', Words(("invoke", "mimikatz"), phrase=True)),
        ('"to be or not to be"', Words(("to", "be", "or", "not", "to", "be"), phrase=True)),
        ("mimi*", WordPrefix("mimi")),
        ('"--"', Nothing()),
        ("a:b c:d", AllOf((Equals("a", "b"), Equals("c", "d")))),
        ("a:b OR NOT c:d", AnyOf((Equals("a", "b"), Not(Equals("c", "d"))))),
        ("-a:b", Not(Equals("a", "b"))),
        ("a:(b OR c*)", AnyOf((Equals("a", "b"), Like("a", "c*")))),
    ],
)
def test_each_form_parses_to_its_meaning(text: str, tree: object) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(
    ("text", "column", "says"),
    [
        ("EventID:4688)", 13, "unexpected ')'"),
        ("a:b AND AND c", 9, "unexpected 'AND'"),
        ("(EventID:4688", 14, "ends too early"),
        ('Message:"unclosed', 9, "Illegal character"),
        ("a:b~2", 3, "fuzzy"),
        ("Image:/lsass/", 7, "regular expressions"),
        ("a:b^2", 3, "boosts"),
        ("*mimikatz*", 1, "bare word"),
        ("[1 TO 2]", 1, "needs a field"),
        ("a:(b:c)", 4, "a field inside"),
    ],
)
def test_a_malformed_query_names_its_column(text: str, column: int, says: str) -> None:
    with pytest.raises(QuerySyntaxError) as raised:
        parse(text)
    assert raised.value.column == column
    assert says in raised.value.reason


def test_an_overlong_query_is_refused() -> None:
    with pytest.raises(QuerySyntaxError, match="longer than"):
        parse("a:b OR " * 1000)


def test_pattern_parts_split_literals_and_wildcards() -> None:
    assert pattern_parts("*\\\\lsass.ex?") == [
        ("any", None),
        ("text", "\\lsass.ex"),
        ("one", None),
    ]
    assert pattern_parts("a\\*b*") == [("text", "a*b"), ("any", None)]
