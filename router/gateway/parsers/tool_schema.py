"""Typed tool-call arguments: a raw parameter text converted by the tool's JSON schema."""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Sequence
from typing import Any

from hybridserve.router.gateway.protocol.tools import Tool

STRING_TYPES = frozenset({"string", "str", "text", "varchar", "char", "enum"})
BOOL_TYPES = frozenset({"boolean", "bool", "binary"})
INT_PREFIXES = ("int", "uint", "long", "short", "unsigned")
NUMBER_PREFIXES = ("num", "float", "double")
CONTAINER_PREFIXES = ("object", "array", "arr", "dict", "list")
NULL_TEXTS = frozenset({"null", "none"})


class BadArgumentError(ValueError):
    """A container parameter (object, array) whose text is neither JSON nor a Python literal."""


def tool_properties(tools: Sequence[Tool] | None) -> dict[str, dict[str, Any]]:
    """Function name -> its `parameters.properties` (name -> JSON schema)."""
    return {tool.function.name: tool.function.properties() for tool in tools or ()}


def schema_type(schema: Any) -> tuple[str, bool]:
    """(main type, lower-cased; whether null is allowed) of one property's schema.

    `type` may be a string or a list; `anyOf`/`oneOf` unions give their first non-null type.
    A schema without a type counts as a string.
    """
    if not isinstance(schema, dict):
        return "string", False
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    else:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        types = [o["type"] for o in options if isinstance(o, dict) and "type" in o]
    names = [str(t).strip().lower() for t in types]
    allows_null = "null" in names
    main = next((t for t in names if t != "null"), "null" if allows_null else "string")
    return main, allows_null


def convert_value(text: str, schema: Any) -> Any:
    """The JSON value of a raw parameter text (qwen3_coder rules, nemotron_h.md §5.3).

    Strings stay raw; `null`/`None` becomes null for non-string or nullable types; ints and
    numbers that do not parse stay strings; booleans are `text.lower() == "true"`; objects and
    arrays go through `json.loads`, then `ast.literal_eval`, else `BadArgumentError`.
    """
    kind, allows_null = schema_type(schema)
    is_null = text.strip().lower() in NULL_TEXTS
    if allows_null and is_null:
        return None
    if kind in STRING_TYPES:
        return text
    if is_null:
        return None
    if kind.startswith(INT_PREFIXES):
        try:
            return int(text)
        except ValueError:
            return text
    if kind.startswith(NUMBER_PREFIXES):
        return _number(text)
    if kind in BOOL_TYPES:
        return text.strip().lower() == "true"
    if kind.startswith(CONTAINER_PREFIXES):
        return _container(text)
    return _literal(text, default=text)


def _number(text: str) -> Any:
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _container(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        value = _literal(text, default=BadArgumentError)
        if value is BadArgumentError:
            raise BadArgumentError(f"not JSON: {text[:80]!r}") from None
    if isinstance(value, str):  # a JSON-encoded Python repr, as some templates produce
        value = _literal(value, default=value)
    return value


def _literal(text: str, default: Any) -> Any:
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return default
    try:
        json.dumps(value, allow_nan=False)  # sets, bytes, complex numbers, ... are not JSON
    except (TypeError, ValueError):
        return default
    return value
