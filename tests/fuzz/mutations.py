"""Seeded mutators of JSON request bodies and of raw bytes (no third-party fuzzing engine).

A JSON body is built as a Python tree, mutated as a tree, and written by `dumps`, which knows two
extra node kinds the json module cannot express:
- `Pairs`: an object written from (key, value) pairs, so a key can appear twice;
- `Raw`: text written as it is: `NaN`, `1e400`, 10,000 nested brackets, a lone surrogate escape.
Deep nesting is always a `Raw` string, so neither the mutator nor `dumps` recurses into it.

Every choice comes from the `random.Random` passed in: one seed, one body.
"""

from __future__ import annotations

import json
import random
from typing import Any

__all__ = ["Pairs", "Raw", "dumps", "mutate_tree", "mutate_bytes", "random_value", "HUGE_NUMBERS",
           "random_shape", "random_datatype", "deep"]

DATATYPES = ["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
             "FP16", "FP32", "FP64", "BYTES"]


class Pairs(list):  # type: ignore[type-arg]
    """A JSON object as a list of (key, value) pairs; keys may repeat."""


class Raw(str):
    """JSON text inserted as it is."""


HUGE_NUMBERS: list[Any] = [
    1e308, -1e308, 5e-324, -0.0, 0.5, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1,
    10**40, -(10**40), 10**400, Raw("1e400"), Raw("-1e400"), Raw("NaN"), Raw("Infinity"), Raw("-Infinity"),
    float("nan"), float("inf"), Raw("1E+2"), Raw("-0"), Raw("0.0000000000000000000000001"), 65504.0, 65520.0,
    3.5e38, -3.5e38, 1.7976931348623157e308, 255, 256, -129, 65536, 4294967296,
]

_WORDS = ["setosa", "", " ", "x", "é", "日本語", "a\u0000b", "🙂", "\u202e", "\\", '"', "b'abc'", "None",
          "{'a': 1}", "\ufeff", "x" * 300]


def dumps(value: Any, ensure_ascii: bool = True) -> str:
    """JSON text of a tree of dicts, lists, `Pairs`, `Raw` and scalars."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=ensure_ascii)}:{dumps(v, ensure_ascii)}"
                              for k, v in value) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=ensure_ascii)}:{dumps(v, ensure_ascii)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v, ensure_ascii) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ensure_ascii)  # NaN/Infinity as the json module writes them


def deep(rng: random.Random, leaf: str | None = None) -> Raw:
    """Nested lists or objects, 2 to 20,000 levels."""
    depth = rng.choice([2, 3, 10, 33, 100, 999, 1000, 1001, 3000, 20000])
    leaf = leaf if leaf is not None else rng.choice(['"x"', "1", "1.5", "null", "[]", "{}", "true"])
    if rng.random() < 0.7:
        return Raw("[" * depth + leaf + "]" * depth)
    return Raw('{"a":' * depth + leaf + "}" * depth)


def random_string(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(_WORDS)
    if roll < 0.7:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(0, 20)))
    if roll < 0.8:
        return Raw(rng.choice(['"\\ud800"', '"\\udfff x"', '"\\u0000"', '"a\\ud83d"']))
    if roll < 0.9:
        return rng.choice(["FP32", "BYTES", "X", "a", "b", "x", "data", "shape"])
    return "y" * rng.choice([1000, 10_000, 100_000])


def random_shape(rng: random.Random) -> Any:
    roll = rng.random()
    dims = [-1, 0, 1, 2, 3, 4, 5, 7, 1024, 1025, 2**31, 2**40, 2**63 - 1, 2**64, 10**30, -(2**63)]
    if roll < 0.75:
        return [rng.choice(dims) if rng.random() < 0.4 else rng.randrange(0, 6) for _ in range(rng.randrange(0, 7))]
    if roll < 0.85:
        return [rng.choice([1.0, 2.5, "2", None, True, [2], {}, Raw("NaN")]) for _ in range(rng.randrange(1, 4))]
    if roll < 0.95:
        return [1] * rng.choice([33, 64, 100, 1000])
    return random_value(rng, depth=1)


def random_datatype(rng: random.Random) -> Any:
    if rng.random() < 0.8:
        return rng.choice(DATATYPES)
    return rng.choice(["fp32", "FLOAT", "STRING", "FP8", "BF16", "", "INT128", 1, None, ["FP32"], {"x": 1},
                       "FP32 ", "F\u0000P32"])


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, of any type (a type swap's replacement)."""
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.2:
        return rng.random() < 0.5
    if roll < 0.35:
        return rng.choice([0, 1, -1, 3, 7, 42, rng.randrange(-(10**6), 10**6)])
    if roll < 0.45:
        return rng.choice([0.0, 1.5, -2.25, rng.uniform(-1e6, 1e6)])
    if roll < 0.55:
        return rng.choice(HUGE_NUMBERS)
    if roll < 0.7:
        return random_string(rng)
    if roll < 0.8 and depth < 3:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    if roll < 0.88 and depth < 3:
        return {random_string(rng) if rng.random() < 0.3 else rng.choice(["name", "data", "shape", "datatype"]):
                random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
    if roll < 0.95:
        return deep(rng)
    return [rng.random() for _ in range(rng.choice([1, 10, 1000, 5000]))]


def _slots(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in the tree, Raw leaves not entered."""
    found: list[tuple[Any, Any]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Raw):
            continue
        if isinstance(node, dict):
            for key, value in node.items():
                found.append((node, key))
                stack.append(value)
        elif isinstance(node, list) and not isinstance(node, Pairs):
            for index, value in enumerate(node):
                found.append((node, index))
                stack.append(value)
    return found


def _key_aware(rng: random.Random, key: Any, old: Any) -> Any:
    """A replacement that knows what the field is for (shapes, datatypes, names, data)."""
    if key == "shape":
        return random_shape(rng)
    if key == "datatype":
        return random_datatype(rng)
    if key == "name":
        return rng.choice(["X", "x", "a", "b", "label", "probabilities", "total", "", "X ", "x\u0000",
                           random_string(rng), None, 1, ["X"]])
    if key == "binary_data_size":
        return rng.choice([0, 1, -1, 3, 8, 48, 2**31, 2**64, 1.0, "16", None, True])
    if key == "data" and isinstance(old, list) and old:
        return _mutate_list(rng, list(old))
    if key == "id":
        return rng.choice(["", "req-1", 1, None, ["x"], {"a": 1}, deep(rng)])
    return random_value(rng)


def _mutate_list(rng: random.Random, items: list[Any]) -> Any:
    roll = rng.random()
    if roll < 0.2:
        return items[: rng.randrange(0, len(items))]
    if roll < 0.35:
        return items + [rng.choice(items) for _ in range(rng.randrange(1, 5))]
    if roll < 0.5:
        return items * rng.choice([2, 3, 10, 100])
    if roll < 0.6:
        return []
    if roll < 0.8:
        i = rng.randrange(len(items))
        items[i] = random_value(rng) if rng.random() < 0.5 else rng.choice(HUGE_NUMBERS)
        return items
    if roll < 0.9:
        return [items]  # one more level
    return rng.choice([True, False, None]) if rng.random() < 0.2 else [x for x in reversed(items)]


def mutate_tree(rng: random.Random, tree: Any, count: int) -> tuple[Any, list[str]]:
    """Apply `count` structural mutations in place (the root may be replaced); say what was done."""
    done: list[str] = []
    for _ in range(count):
        slots = _slots(tree)
        if not slots or rng.random() < 0.03:
            tree = rng.choice([random_value(rng), deep(rng), [], {}, Raw("")])
            done.append("root replaced")
            continue
        node, key = rng.choice(slots)
        roll = rng.random()
        if roll < 0.18:
            if isinstance(node, dict):
                del node[key]
            else:
                del node[key]
            done.append(f"deleted {key!r}")
        elif roll < 0.28 and isinstance(node, dict):
            pairs = Pairs(node.items())
            pairs.insert(rng.randrange(len(pairs) + 1), (key, _key_aware(rng, key, node[key])))
            _replace(tree, node, pairs)
            if tree is node:
                tree = pairs
            done.append(f"duplicated key {key!r}")
        elif roll < 0.6:
            node[key] = _key_aware(rng, key, node[key])
            done.append(f"{key!r} replaced (field-aware)")
        elif roll < 0.75:
            node[key] = random_value(rng)
            done.append(f"{key!r} type-swapped")
        elif roll < 0.85:
            node[key] = rng.choice(HUGE_NUMBERS)
            done.append(f"{key!r} huge number")
        elif roll < 0.92:
            node[key] = deep(rng)
            done.append(f"{key!r} deep nesting")
        elif isinstance(node, dict):
            node[rng.choice(["extra", "parameters", "outputs", "id", "inputs", "instances", random_string(rng)])] = \
                random_value(rng)
            done.append("key added")
        else:
            node.insert(rng.randrange(len(node) + 1), random_value(rng))
            done.append("element inserted")
    return tree, done


def _replace(tree: Any, old: Any, new: Any) -> None:
    for node, key in _slots(tree):
        if node[key] is old:
            node[key] = new
            return


def mutate_bytes(rng: random.Random, data: bytes, count: int) -> tuple[bytes, list[str]]:
    """Byte flips, insertions, deletions, truncation, splices, invalid UTF-8."""
    buf = bytearray(data)
    done: list[str] = []
    for _ in range(count):
        roll = rng.random()
        if not buf:
            buf.extend(rng.randbytes(rng.randrange(1, 16)))
            done.append("random bytes")
            continue
        pos = rng.randrange(len(buf))
        if roll < 0.3:
            buf[pos] ^= 1 << rng.randrange(8)
            done.append(f"bit flip @{pos}")
        elif roll < 0.45:
            buf[pos] = rng.choice(b'{}[]",:0123456789.eE-+ntfa\\\x00\xff\x80')
            done.append(f"byte set @{pos}")
        elif roll < 0.6:
            buf[pos:pos] = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"{", b"]", b'"', b",", b"\\u"])
            done.append(f"insert @{pos}")
        elif roll < 0.75:
            del buf[pos : pos + rng.randrange(1, 16)]
            done.append(f"delete @{pos}")
        elif roll < 0.85:
            del buf[pos:]
            done.append(f"truncate @{pos}")
        elif roll < 0.93:
            start = rng.randrange(len(buf))
            chunk = bytes(buf[start : start + rng.randrange(1, 64)])
            buf[pos:pos] = chunk * rng.randrange(1, 4)
            done.append(f"splice @{pos}")
        else:
            buf.extend(rng.randbytes(rng.randrange(1, 64)))
            done.append("garbage appended")
    return bytes(buf), done
