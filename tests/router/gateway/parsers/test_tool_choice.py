"""tool_choice helpers: when to parse, which tools the template sees, whether calls comply."""

from __future__ import annotations

from hybridserve.router.gateway.parsers import (
    finish_reason,
    parses_tool_calls,
    required_function,
    tool_choice_satisfied,
    tools_for_template,
)
from hybridserve.router.gateway.protocol import (
    FunctionCall,
    FunctionDefinition,
    NamedToolChoice,
    Tool,
    ToolCall,
)

F, G = (Tool(function=FunctionDefinition(name=n)) for n in "fg")
NAMED_G = NamedToolChoice.model_validate({"type": "function", "function": {"name": "g"}})


def calls(*names: str) -> list[ToolCall]:
    return [ToolCall(function=FunctionCall(name=n, arguments="{}")) for n in names]


def test_parsing_needs_tools_and_not_none():
    assert parses_tool_calls([F], "auto") and parses_tool_calls([F], None)
    assert parses_tool_calls([F], "required") and parses_tool_calls([F], NAMED_G)
    assert not parses_tool_calls([F], "none") and not parses_tool_calls(None, "auto")


def test_template_tools():
    assert tools_for_template([F, G], "auto") == [F, G]
    assert tools_for_template([F, G], None) == [F, G]
    assert tools_for_template([F, G], "none") is None
    assert tools_for_template([F, G], NAMED_G) == [G]
    assert tools_for_template(None, "auto") is None
    assert required_function(NAMED_G) == "g" and required_function("required") is None


def test_satisfied():
    assert tool_choice_satisfied("auto", []) and tool_choice_satisfied("auto", calls("f"))
    assert tool_choice_satisfied("required", calls("f"))
    assert not tool_choice_satisfied("required", [])
    assert tool_choice_satisfied(NAMED_G, calls("g", "g"))
    assert not tool_choice_satisfied(NAMED_G, calls("g", "f"))
    assert not tool_choice_satisfied(NAMED_G, [])
    assert tool_choice_satisfied("none", []) and not tool_choice_satisfied("none", calls("f"))


def test_finish_reason():
    assert finish_reason("stop", calls("f")) == "tool_calls"
    assert finish_reason("stop", []) == "stop"
    assert finish_reason("length", calls("f")) == "length"
