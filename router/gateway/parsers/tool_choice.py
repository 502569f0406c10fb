"""`tool_choice` semantics: whether to parse calls, which tools the template sees, and checks."""

from __future__ import annotations

from collections.abc import Sequence

from hybridserve.router.gateway.protocol.tools import NamedToolChoice, Tool, ToolCall, ToolChoice


def parses_tool_calls(tools: Sequence[Tool] | None, tool_choice: ToolChoice | None) -> bool:
    """Run the tool-call parser only when tools were given and `tool_choice` is not "none"."""
    return bool(tools) and tool_choice != "none"


def required_function(tool_choice: ToolChoice | None) -> str | None:
    """The function a named `tool_choice` forces, else None."""
    return tool_choice.function.name if isinstance(tool_choice, NamedToolChoice) else None


def tools_for_template(
    tools: Sequence[Tool] | None, tool_choice: ToolChoice | None
) -> list[Tool] | None:
    """The tools to render into the prompt: none for "none", only the named one for a named
    choice (so the model can call nothing else), all of them otherwise."""
    if not tools or tool_choice == "none":
        return None
    name = required_function(tool_choice)
    if name is None:
        return list(tools)
    return [tool for tool in tools if tool.function.name == name]


def tool_choice_satisfied(tool_choice: ToolChoice | None, calls: Sequence[ToolCall]) -> bool:
    """Whether the parsed calls obey `tool_choice`: "required" needs at least one call, a named
    choice at least one and only calls of that function, "none" no call; "auto" anything."""
    if tool_choice == "none":
        return not calls
    if tool_choice == "required":
        return bool(calls)
    name = required_function(tool_choice)
    if name is not None:
        return bool(calls) and all(call.function.name == name for call in calls)
    return True


def finish_reason(reason: str | None, calls: Sequence[ToolCall]) -> str | None:
    """OpenAI reports "tool_calls" when the model ended its turn with calls."""
    return "tool_calls" if calls and reason in ("stop", None) else reason
