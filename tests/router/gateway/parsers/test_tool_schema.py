"""Parameter values converted by JSON schema type (qwen3_coder rules)."""

from __future__ import annotations

import pytest

from hybridserve.router.gateway.parsers import convert_value, tool_properties
from hybridserve.router.gateway.parsers.tool_schema import BadArgumentError, schema_type
from hybridserve.router.gateway.protocol import FunctionDefinition, Tool


@pytest.mark.parametrize(
    ("text", "schema", "expected"),
    [
        ("Paris", {"type": "string"}, "Paris"),
        ("null", {"type": "string"}, "null"),  # strings stay raw
        ("42", {"type": "string"}, "42"),
        ("42", {"type": "integer"}, 42),
        ("-7", {"type": "int64"}, -7),
        ("4.0", {"type": "integer"}, "4.0"),  # not an int: kept as text
        ("2.5", {"type": "number"}, 2.5),
        ("3.0", {"type": "number"}, 3),  # integral numbers become ints
        ("1e400", {"type": "number"}, "1e400"),  # not finite: kept as text
        ("nan", {"type": "float"}, "nan"),
        ("true", {"type": "boolean"}, True),
        ("True", {"type": "boolean"}, True),
        ("yes", {"type": "boolean"}, False),
        ('{"a": [1, 2]}', {"type": "object"}, {"a": [1, 2]}),
        ("{'a': None}", {"type": "object"}, {"a": None}),
        ("\"{'a': 1}\"", {"type": "dict"}, {"a": 1}),  # JSON-encoded Python repr
        ("[1, 2]", {"type": "array"}, [1, 2]),
        ("null", {"type": "integer"}, None),
        ("None", {"type": "object"}, None),
        ("null", {"type": ["string", "null"]}, None),
        ("None", {"anyOf": [{"type": "string"}, {"type": "null"}]}, None),
        ("5", {"anyOf": [{"type": "integer"}, {"type": "null"}]}, 5),
        ("x", {"type": "null"}, "x"),
        ("x", None, "x"),  # unknown parameter
        ("7", {}, "7"),  # no type: a string
        ("[1, 2]", {"type": "mystery"}, [1, 2]),  # unknown types try a literal
        ("hello", {"type": "mystery"}, "hello"),
        ("{1, 2}", {"type": "mystery"}, "{1, 2}"),  # a set is not JSON
    ],
)
def test_convert(text, schema, expected):
    value = convert_value(text, schema)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("text", ["{not json", "[1, 2", "{1, 2}", "b'x'", "[float('nan')]"])
def test_bad_containers_raise(text):
    with pytest.raises(BadArgumentError):
        convert_value(text, {"type": "object"})


def test_schema_type():
    assert schema_type({"type": "Integer"}) == ("integer", False)
    assert schema_type({"type": ["null", "number"]}) == ("number", True)
    assert schema_type({"oneOf": [{"type": "null"}]}) == ("null", True)
    assert schema_type("string") == ("string", False)


def test_tool_properties():
    tool = Tool(function=FunctionDefinition(name="f", parameters={"properties": {"a": {}}}))
    bare = Tool(function=FunctionDefinition(name="g"))
    assert tool_properties([tool, bare]) == {"f": {"a": {}}, "g": {}}
    assert tool_properties(None) == {}
