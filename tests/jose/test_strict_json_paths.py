"""The fast (orjson + counting) and exact (stdlib scanner) JSON paths must always agree.

``loads_object`` takes the fast path when it can prove no member name is repeated; the
property below feeds both paths random objects, with duplicates, escapes, whitespace and
values that start with ':' injected, and requires the same result or the same refusal.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.errors import MalformedToken
from tessera.jose.strict_json import _loads_exact, loads_object

KEYS = st.sampled_from(["a", "b", "iss", "aud", ":", "a:b", 'q"', "\\", "é", "x y"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([":", ":x", '":', "a\\b", "", " : ", "\u2603"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


def _render(pairs: list[tuple[str, object]], spaced: bool) -> bytes:
    sep = " : " if spaced else ":"
    body = ",".join(json.dumps(k) + sep + json.dumps(v, ensure_ascii=False) for k, v in pairs)
    return ("{" + body + "}").encode()


def _outcome(parse, data: bytes):
    try:
        return ("ok", parse(data, "JSON"))
    except MalformedToken:
        return ("refused", None)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pairs=st.lists(st.tuples(KEYS, VALUES), max_size=6),
    duplicate=st.booleans(),
    spaced=st.booleans(),
)
def test_fast_and_exact_paths_agree(pairs, duplicate, spaced):
    if duplicate and pairs:
        pairs = [*pairs, (pairs[0][0], None)]
    data = _render(pairs, spaced)
    assert _outcome(loads_object, data) == _outcome(_loads_exact, data)


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1,"a":2}',
        b'{"a":":x","a":1}',  # a value opening with ':' must not mask the duplicate
        b'{"a" :1,"a":2}',
        b'{"a":{"b":1,"b":2}}',
        b'{"a":[{"b":1,"b":2}]}',
        b'{"\\u0061":1,"a":2}',  # the same name, spelled with an escape
    ],
)
def test_duplicates_are_refused_on_every_path(text):
    with pytest.raises(MalformedToken):
        loads_object(text)


def test_values_that_look_like_member_ends_are_fine():
    assert loads_object(b'{"a":":x","b":"\\":"}') == {"a": ":x", "b": '":'}
