"""Model-output parsers: `<think>` reasoning and Qwen3-Coder XML tool calls, whole or streamed."""

from __future__ import annotations

from hybridserve.router.gateway.parsers.reasoning import (
    ReasoningDelta,
    ReasoningResult,
    ReasoningStreamParser,
    parse_reasoning,
    starts_in_reasoning,
)
from hybridserve.router.gateway.parsers.tool_calls import (
    ToolCallDelta,
    ToolCallResult,
    ToolCallStreamParser,
    parse_tool_calls,
)
from hybridserve.router.gateway.parsers.tool_choice import (
    finish_reason,
    parses_tool_calls,
    required_function,
    tool_choice_satisfied,
    tools_for_template,
)
from hybridserve.router.gateway.parsers.tool_schema import convert_value, tool_properties

__all__ = [
    "ReasoningDelta",
    "ReasoningResult",
    "ReasoningStreamParser",
    "ToolCallDelta",
    "ToolCallResult",
    "ToolCallStreamParser",
    "convert_value",
    "finish_reason",
    "parse_reasoning",
    "parse_tool_calls",
    "parses_tool_calls",
    "required_function",
    "starts_in_reasoning",
    "tool_choice_satisfied",
    "tool_properties",
    "tools_for_template",
]
