"""`POST /v1/chat/completions` request: messages, tools, and chat-only sampling fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hybridserve.router.gateway.protocol.common import MAX_TOP_LOGPROBS, SamplingFields
from hybridserve.router.gateway.protocol.tools import NamedToolChoice, Tool, ToolCall, ToolChoice


class TextPart(BaseModel):
    type: Literal["text"] = "text"
    text: str


MessageContent = str | list[TextPart]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None


class SystemMessage(_Message):
    role: Literal["system", "developer"]
    content: MessageContent


class UserMessage(_Message):
    role: Literal["user"]
    content: MessageContent


class AssistantMessage(_Message):
    role: Literal["assistant"]
    content: MessageContent | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None


class ToolMessage(_Message):
    role: Literal["tool"]
    content: MessageContent
    tool_call_id: str


ChatMessage = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]


class ChatCompletionRequest(SamplingFields):
    """An OpenAI chat request. `chat_template_kwargs` reach the template (e.g.
    `{"enable_thinking": false}`); `max_completion_tokens` wins over `max_tokens`."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None  # accepted; the model decides how many calls
    chat_template_kwargs: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check_chat(self) -> ChatCompletionRequest:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("logprobs must be true when top_logprobs is used")
        choice = self.tool_choice
        if choice == "required" or isinstance(choice, NamedToolChoice):
            if not self.tools:
                raise ValueError("tool_choice is only allowed when tools are specified")
            names = {tool.function.name for tool in self.tools}
            if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
                raise ValueError(f"tool_choice names unknown function {choice.function.name!r}")
        return self

    @property
    def max_output_tokens(self) -> int | None:
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens
        return self.max_tokens

    @property
    def enable_thinking(self) -> bool:
        """False only when `chat_template_kwargs.enable_thinking` is false (the template's
        default is on)."""
        return (self.chat_template_kwargs or {}).get("enable_thinking") is not False

    def template_messages(self) -> list[dict[str, Any]]:
        """The messages as plain dicts for `Tokenizer.apply_chat_template`."""
        return [m.model_dump(exclude_none=True) for m in self.messages]
