"""Hypothesis strategies for the hostile-input tests: random bytes, truncated and mutated files.

Every fuzz test uses `FUZZ`: a fixed number of examples drawn deterministically, so CI time is
bounded and a failure reproduces. `MASA_FUZZ_EXAMPLES=N` runs N random (not derandomized)
examples per test instead, to explore further by hand.
"""

from __future__ import annotations

import copy
import json
import math
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_EXPLORE = os.environ.get("MASA_FUZZ_EXAMPLES")

#: Settings of every fuzz test.
FUZZ = settings(
    max_examples=int(_EXPLORE) if _EXPLORE else 100,
    derandomize=not _EXPLORE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Fields that parsers trip on: empty, non-numbers, overflow, NaN, separators, control bytes.
TOKENS = (
    b"", b"nan", b"inf", b"-inf", b"-1", b"0", b"-0", b"1e309", b"1e-320", b"2.5", b"abc",
    b"99999999999999999999999", b"9223372036854775807", b"-9223372036854775809", b",", b"\n",
    b" ", b"\x00", b"\xff\xfe", b"%(x)s", b"[", b"=",
)

#: JSON scalars that readers trip on (Python's json writes and reads NaN and Infinity).
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
)

#: Any JSON value, nested a little.
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)


_EDITS = ("truncate", "delete", "insert", "flip", "token", "token", "line")


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` after one to four edits: truncation, deletion, insertion, byte flips, a field
    replaced by one of `TOKENS`, or a line duplicated."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(_EDITS))
        at = draw(st.integers(0, len(data)))
        if op == "truncate":
            del data[at:]
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "flip" and data:
            data[min(at, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == "token":  # replace the field around `at` (between separators) with a token
            seps = b",\n \t="
            lo = at
            while lo > 0 and data[lo - 1] not in seps:
                lo -= 1
            hi = at
            while hi < len(data) and data[hi] not in seps:
                hi += 1
            data[lo:hi] = draw(st.sampled_from(TOKENS))
        elif op == "line":
            lines = bytes(data).split(b"\n")
            k = min(draw(st.integers(0, len(lines))), len(lines) - 1)
            lines.insert(k, lines[k])
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (a tuple of keys / indices) to a value inside `value`, `()` included."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, prefix + (i,))
    return out


@st.composite
def mutated_json(draw: st.DrawFn, doc: Any) -> bytes:
    """`doc` with one to three values replaced by any JSON value, removed, or duplicated, written
    as JSON text (NaN and Infinity included), sometimes then mutated as bytes."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = draw(st.sampled_from(["replace", "replace", "remove", "duplicate"]))
        if op == "replace":
            parent[key] = draw(JSON_VALUES)
        elif op == "remove":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = [parent[key], copy.deepcopy(parent[key])]
    text = json.dumps(doc).encode()
    if draw(st.integers(0, 3)) == 0:
        text = draw(mutated_bytes(text))
    return text


def hostile_file(data: bytes, json_doc: Any | None = None) -> st.SearchStrategy[bytes]:
    """Random bytes, a truncation of `data`, a byte-level mutation of it, or (for JSON files) a
    structural mutation of `json_doc` or a deeply nested document."""
    options = [
        st.binary(max_size=256),
        st.integers(0, len(data)).map(lambda n: data[:n]),
        mutated_bytes(data),
    ]
    if json_doc is not None:
        options += [
            mutated_json(json_doc), mutated_json(json_doc),
            st.integers(1, 200_000).map(lambda depth: b"[" * depth + b"]" * (depth % 3)),
        ]
    return st.one_of(options)


def finite_positive(value: float) -> bool:
    """`value` is a usable rate or size."""
    return math.isfinite(value) and value > 0
