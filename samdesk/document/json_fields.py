"""Reading a parsed JSON file field by field: each check names the JSON location of a problem.

The project loader (``persistence``) builds nothing before its fields pass these checks; a
failure is an :class:`Invalid` saying where (``objects[3].frames[0].rle``) and what is wrong,
which the loader turns into an error naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class Invalid(Exception):
    """A problem at a JSON location; the loader turns it into an error naming its file."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)  # type: ignore[arg-type]


def type_name(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def as_dict(value: object, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(where, f"{what} must be a JSON object, found {type_name(value)}")
    return value


def required(d: dict[str, Any], key: str, where: str) -> object:
    if key not in d:
        raise Invalid(where, f"missing field '{key}'")
    return d[key]


def at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def get_int(d: dict[str, Any], key: str, where: str) -> int:
    value = required(d, key, where)
    if not is_int(value):
        raise Invalid(at(where, key), f"must be an integer, found {type_name(value)}")
    return value  # type: ignore[return-value]


def get_id(d: dict[str, Any], key: str, where: str) -> int:
    value = get_int(d, key, where)
    if value < 1:
        raise Invalid(at(where, key), f"ids start at 1, got {value}")
    return value


def get_str(d: dict[str, Any], key: str, where: str) -> str:
    value = required(d, key, where)
    if not isinstance(value, str):
        raise Invalid(at(where, key), f"must be a string, found {type_name(value)}")
    return value


def get_bool(d: dict[str, Any], key: str, where: str) -> bool:
    value = required(d, key, where)
    if not isinstance(value, bool):
        raise Invalid(at(where, key), f"must be true or false, found {type_name(value)}")
    return value


def get_list(d: dict[str, Any], key: str, where: str, default: list | None = None) -> list:
    if key not in d and default is not None:
        return default
    value = required(d, key, where)
    if not isinstance(value, list):
        raise Invalid(at(where, key), f"must be a list, found {type_name(value)}")
    return value


def get_optional_number(d: dict[str, Any], key: str, where: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if not is_number(value):
        raise Invalid(at(where, key), f"must be a number or null, found {type_name(value)}")
    return float(value)


def numbers(value: object, where: str, count: int) -> list[float]:
    if not isinstance(value, list) or len(value) != count or not all(is_number(v) for v in value):
        raise Invalid(where, f"must be a list of {count} numbers")
    return [float(v) for v in value]


def get_enum(d: dict[str, Any], key: str, where: str, enum: type) -> Any:
    value = required(d, key, where)
    allowed = [e.value for e in enum]
    if value not in allowed or not isinstance(value, str):
        raise Invalid(at(where, key), f"must be one of {', '.join(allowed)}; found {value!r}"[:300])
    return enum(value)


def unique(ids: Iterable[int], where: str, what: str) -> None:
    seen: set[int] = set()
    for value in ids:
        if value in seen:
            raise Invalid(where, f"two {what} entries have id {value}")
        seen.add(value)
