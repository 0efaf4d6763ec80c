"""The fast reading of the commonest STIX pattern shape agrees with the STIX grammar."""

from __future__ import annotations

import pytest

from soc.intel.parse import _parsed, _simple, pattern_values

SIMPLE = [
    "[ipv4-addr:value = '203.0.113.7']",
    "[ipv4-addr:value='198.51.100.0/24']",
    "[ipv6-addr:value = '2001:db8::1']",
    "[domain-name:value = 'Ex\u00e1mple.COM']",
    "[url:value = 'http://evil.example/a\\'b']",
    "[url:value = 'http://evil.example/a\\\\b']",
    "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
    "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
    "[file:hashes.'MD5' = 'D41D8CD98F00B204E9800998ECF8427E']",
    "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
    " [\tipv4-addr:value\n=\r'8.8.8.8'\t] ",
    "[ipv4-addr:value = 'not an address']",
    "[domain-name:value = '']",
]
OTHER = [
    "[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'a.example']",
    "[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '1.2.3.5']",
    "[ipv4-addr:value != '1.2.3.4']",
    "[file:value = 'x']",
    "[file:hashes.SHA-256 = 'x']",
    "[url:value = 'x\\y']",
    "[email-addr:value = 'a@b.example']",
    "[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS",
    "ipv4-addr:value = '1.2.3.4'",
]


@pytest.mark.parametrize("pattern", SIMPLE)
def test_the_simple_shape_is_read_as_the_grammar_reads_it(pattern: str) -> None:
    assert _simple(pattern) == _parsed(pattern)


@pytest.mark.parametrize("pattern", OTHER)
def test_any_other_shape_goes_to_the_grammar(pattern: str) -> None:
    assert _simple(pattern) is None


def test_values_and_reasons_are_those_of_the_grammar() -> None:
    assert pattern_values("[file:hashes.'MD5' = 'D41D8CD98F00B204E9800998ECF8427E']") == (
        [(pattern_values("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']")[0][0])],
        [],
    )
    with pytest.raises(ValueError, match="ipv4-addr:value"):
        pattern_values("[ipv4-addr:value = 'not an address']")
