"""A rule's regex is searched in a form that occurs exactly where the rule's does
(soc.detect.values.search_source): a leading ``X+`` becomes ``X``."""

from __future__ import annotations

import re

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from soc.detect.values import required_texts, search_source

HEADS = [r"\w+", r"\s+", r"\d+", r".+", r"\W+", r"\w+?", r"\w++", r"\w+{2}", r"\w*", "a+"]
TAILS = ["`", r"`(\w+|-|.)`[\w+|\s]", r"\b", r"x|y", r"\.\d+", "$", r"(?<=ab)c", "", r"\s-f"]
TEXT = st.text(alphabet=st.sampled_from(list("ab `-.\n\tc1x9yé_f")), max_size=40)


@settings(max_examples=400, derandomize=True)
@given(
    st.sampled_from(HEADS), st.sampled_from(TAILS), TEXT, st.sampled_from([0, re.I | re.M, re.S])
)
def test_a_rewritten_pattern_occurs_exactly_where_the_rule_s_does(
    head: str, tail: str, text: str, flags: int
) -> None:
    source = head + tail
    try:
        re.compile(source)
    except re.error:  # \w+{2}: "multiple repeat", refused when the rule loads
        assume(False)
    faster = search_source(source)
    found = re.search(source, text, flags) is not None
    assert (re.search(faster, text, flags) is not None) == found, (source, faster, text)


def test_only_a_leading_greedy_run_is_rewritten() -> None:
    assert search_source(r"\w+`(\w+|-|.)`[\w+|\s]") == r"\w`(\w+|-|.)`[\w+|\s]"
    assert search_source(r".+foo") == ".foo"
    for kept in [r"\w+?a", r"\w++a", r"\w+{2}", r"a\w+", r"^\w+a", r"\\w+x", r"(\w+)\1"]:
        assert search_source(kept) == kept


PARTS = ["a", "b", "&", "`", "-", r"\w", r"\s", ".", "(a|b)", "(ab)", "(?:b&)", "a*", "&+", "b?"]
PARTS += ["[ab]", "(?i:a)", r"\\", "A", "(a(b))", "x{2}", "(?:&|`)"]


@settings(max_examples=600, derandomize=True)
@given(
    st.lists(st.sampled_from(PARTS), min_size=1, max_size=6),
    st.text(alphabet=st.sampled_from(list("abAB&`- \\x")), max_size=24),
    st.sampled_from([0, re.I]),
)
@example(["A"], "a", re.I)  # a letter under IGNORECASE is not required as written
@example(["(?i:a)", "b"], "Ab", 0)  # nor one in a group with its own flags
@example(["(?i)", "A&"], "a&", 0)
def test_every_match_holds_the_required_texts(parts: list[str], text: str, flags: int) -> None:
    source = "".join(parts)
    needed = required_texts(source, flags)
    if re.search(source, text, flags) is not None:
        assert all(t in text for t in needed), (source, needed, text)


def test_required_texts_of_sigmahq_patterns() -> None:
    assert required_texts(r"(Copy-Item|cpi) .{2,128} -Destination .{1,32}\\Windows\\(Sys)") == (
        " ",
        " -Destination ",
        "\\Windows\\Sys",
    )
    assert required_texts(r"(?i)(set).*&&\s?set.*&&.*") == ("&&", "&&")  # letters fold
    assert required_texts(r"\w+`(\w+|-|.)`") == ("`", "`")
    assert required_texts("a|b") == () and required_texts("(") == ()
