"""A small JSON-schema check (the OpenAPI 3.0 subset our document uses), no dependency.

Checks ``$ref``, ``type`` (with ``nullable``), ``required``, ``properties``, ``items``,
``enum``, ``pattern``, ``minLength``/``maxLength``; returns every mismatch with its path.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,),
}


def check(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$"
          ) -> list[str]:
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return check(value, target, root, path)
    if value is None:
        return [] if schema.get("nullable") else [f"{path}: null but not nullable"]
    problems: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        if isinstance(value, bool) and kind != "boolean":
            return [f"{path}: boolean, expected {kind}"]
        if not isinstance(value, _TYPES[kind]):
            return [f"{path}: {type(value).__name__}, expected {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{path}: shorter than {schema['minLength']}")
        if len(value) > schema.get("maxLength", len(value)):
            problems.append(f"{path}: longer than {schema['maxLength']}")
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            if name not in value:
                problems.append(f"{path}: missing required {name!r}")
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                problems.extend(check(value[name], sub, root, f"{path}.{name}"))
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems.extend(check(item, schema["items"], root, f"{path}[{index}]"))
    return problems
