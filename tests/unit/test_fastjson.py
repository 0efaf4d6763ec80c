"""The fast JSON path must not change a record, nor an event id."""

from __future__ import annotations

import json

import pytest

from soc import fastjson


@pytest.mark.parametrize(
    "text",
    [
        b'{"EventID": 4688, "Keywords": "0x8020000000000000", "n": -12}',
        b'{"big": 123456789012345678901234567890, "neg": -98765432109876543210}',
        b'{"nested": {"ids": [18446744073709551616, 1, 2.5]}}',
        b'{"float": 1e300, "small": 1.5e-7, "u": "Hu\xe1\xba\xbf \\u0000"}',
    ],
)
def test_loads_equals_the_standard_library(text: bytes) -> None:
    assert fastjson.loads(text) == json.loads(text)
    assert type(fastjson.loads(text)) is dict


def test_big_integers_stay_exact() -> None:
    value = fastjson.loads(b'{"id": 123456789012345678901234567890}')
    assert value["id"] == 123456789012345678901234567890 and type(value["id"]) is int


def test_canonical_is_sorted_compact_utf8_and_total() -> None:
    assert fastjson.canonical({"b": 1, "a": {"d": [1, "Huế"], "c": None}}) == (
        '{"a":{"c":null,"d":[1,"Huế"]},"b":1}'
    )
    huge = {"id": 2**70}
    assert fastjson.canonical(huge) == '{"id":1180591620717411303424}'


def test_invalid_input_raises_the_standard_error() -> None:
    for bad in (b'{"a": 1', b"\xff\xfe", b"[1,"):
        with pytest.raises(fastjson.JSONDecodeError):
            fastjson.loads(bad)


def test_canonical_bytes_are_the_canonical_text_encoded() -> None:
    from soc.models import Event, digest

    for value in ({"b": 1, "a": {"d": [1, "Huế"], "c": None}}, {"id": 2**70}, {"x": 1.5e300}):
        assert fastjson.canonical_bytes(value) == fastjson.canonical(value).encode()
        text = fastjson.canonical(value)
        assert digest("t", "s", text) == digest("t", "s", text.encode())
        assert Event.make_id(tenant="t", source="s", raw=value) == digest("t", "s", text)
