"""OpenAI tool models: definitions sent in a request, calls returned in a response or a chunk."""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Names a tool call may carry back (the qwen3_coder parser rejects `{}<>"'` and whitespace).
FUNCTION_NAME_RE = re.compile(r"[^\s{}<>\"']{1,256}")


def make_tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON schema of type object
    strict: bool | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not FUNCTION_NAME_RE.fullmatch(name):
            raise ValueError(f"invalid function name {name!r}")
        return name

    def properties(self) -> dict[str, Any]:
        """`parameters.properties`, or {} when the schema has none."""
        props = (self.parameters or {}).get("properties")
        return props if isinstance(props, dict) else {}


class Tool(BaseModel):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    """`tool_choice={"type": "function", "function": {"name": ...}}`."""

    type: Literal["function"] = "function"
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class FunctionCall(BaseModel):
    name: str
    arguments: str  # a JSON object, as text


class ToolCall(BaseModel):
    id: str = Field(default_factory=make_tool_call_id)
    type: Literal["function"] = "function"
    function: FunctionCall


class DeltaFunctionCall(BaseModel):
    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(BaseModel):
    """One piece of a streamed tool call; clients join pieces by `index`."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: DeltaFunctionCall
