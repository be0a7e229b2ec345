"""Attribute filters, as OpenAI shapes them: a comparison ``{"type": "eq", "key": ...,
"value": ...}`` (``eq ne gt gte lt lte in nin``) or a compound ``{"type": "and"|"or",
"filters": [...]}``. Parsed once (each problem named by its place), then tested against a
file's attributes."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from berth import errors
from berth.vectors.record import Attributes

Scalar = str | float | bool
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
LISTS = {"in", "nin"}
COMPOUND = {"and", "or"}
MAX_DEPTH = 8
MAX_ATTRIBUTES = 16
MAX_KEY = 64
MAX_VALUE = 512


@dataclass(frozen=True, slots=True)
class Comparison:
    """``key`` compared with ``value``."""

    type: str
    key: str
    value: Scalar | tuple[Scalar, ...]

    def matches(self, attributes: Attributes) -> bool:
        if self.key not in attributes:
            return self.type in {"ne", "nin"}
        found = attributes[self.key]
        if isinstance(self.value, tuple):
            inside = any(_same_kind(found, v) and found == v for v in self.value)
            return inside if self.type == "in" else not inside
        if not _same_kind(found, self.value):
            return self.type == "ne"
        return COMPARE[self.type](found, self.value)


@dataclass(frozen=True, slots=True)
class Compound:
    """Every (``and``) or any (``or``) of ``filters``."""

    type: str
    filters: tuple[Filter, ...]

    def matches(self, attributes: Attributes) -> bool:
        test = all if self.type == "and" else any
        return test(f.matches(attributes) for f in self.filters)


Filter = Comparison | Compound


def _same_kind(a: object, b: object) -> bool:
    """Whether two attribute values compare: both text, both booleans, or both numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str)
    return isinstance(a, int | float) and isinstance(b, int | float)


def _scalar(value: Any, where: str) -> Scalar:
    if isinstance(value, str | bool | int | float):
        return value
    raise errors.InvalidRequest(f"{where}: must be a string, a number or a boolean.")


def parse_filter(data: Any, where: str = "filters", depth: int = 0) -> Filter:
    """The filter ``data`` describes; InvalidRequest naming the first problem."""
    if depth > MAX_DEPTH:
        raise errors.InvalidRequest(f"{where}: filters nest at most {MAX_DEPTH} deep.")
    if not isinstance(data, dict):
        raise errors.InvalidRequest(f"{where}: must be an object with a 'type'.")
    kind = data.get("type")
    if kind in COMPOUND:
        parts = data.get("filters")
        if not isinstance(parts, list) or not parts:
            raise errors.InvalidRequest(f"{where}.filters: an '{kind}' needs a list of filters.")
        inner = (parse_filter(p, f"{where}.filters[{i}]", depth + 1) for i, p in enumerate(parts))
        return Compound(kind, tuple(inner))
    if kind not in COMPARE and kind not in LISTS:
        known = ", ".join([*COMPARE, *sorted(LISTS), *sorted(COMPOUND)])
        raise errors.InvalidRequest(f"{where}.type: {kind!r} is not a filter; use one of {known}.")
    key = data.get("key")
    if not isinstance(key, str) or not key:
        raise errors.InvalidRequest(f"{where}.key: the attribute to compare, a string.")
    if "value" not in data:
        raise errors.InvalidRequest(f"{where}.value: missing; give the value to compare with.")
    value = data["value"]
    if kind in LISTS:
        if not isinstance(value, list) or not value:
            raise errors.InvalidRequest(f"{where}.value: '{kind}' needs a non-empty list.")
        values = tuple(_scalar(v, f"{where}.value[{i}]") for i, v in enumerate(value))
        return Comparison(kind, key, values)
    return Comparison(kind, key, _scalar(value, f"{where}.value"))


def check_attributes(data: Any, where: str = "attributes") -> Attributes:
    """Attributes as OpenAI allows them: at most 16 keys of up to 64 characters, each a
    string (up to 512 characters), a number or a boolean."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.InvalidRequest(f"{where}: must be an object of keys and values.")
    if len(data) > MAX_ATTRIBUTES:
        raise errors.InvalidRequest(f"{where}: at most {MAX_ATTRIBUTES} keys, not {len(data)}.")
    checked: Attributes = {}
    for key, value in data.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
            raise errors.InvalidRequest(f"{where}: key {key!r} must be 1 to {MAX_KEY} characters.")
        scalar = _scalar(value, f"{where}.{key}")
        if isinstance(scalar, str) and len(scalar) > MAX_VALUE:
            raise errors.InvalidRequest(f"{where}.{key}: at most {MAX_VALUE} characters.")
        checked[key] = scalar
    return checked
