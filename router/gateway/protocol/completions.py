"""`POST /v1/completions` request: a text or token-id prompt (or a batch of them)."""

from __future__ import annotations

from pydantic import Field, field_validator

from hybridserve.router.gateway.protocol.common import MAX_TOP_LOGPROBS, SamplingFields

Prompt = str | list[int]
# OpenAI's default for the legacy completions API (chat's default is "until the context ends").
DEFAULT_COMPLETION_MAX_TOKENS = 16


class CompletionRequest(SamplingFields):
    """An OpenAI completions request. `logprobs=k` returns the k most likely tokens per step."""

    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool = False

    @field_validator("prompt")
    @classmethod
    def _prompt_not_empty(
        cls, prompt: str | list[str] | list[int] | list[list[int]]
    ) -> str | list[str] | list[int] | list[list[int]]:
        if isinstance(prompt, list):
            if not prompt:
                raise ValueError("prompt must not be an empty list")
            for item in prompt:
                if isinstance(item, list) and not item:
                    raise ValueError("a token-id prompt must not be empty")
                ids = item if isinstance(item, list) else [item]
                if any(isinstance(i, int) and i < 0 for i in ids):
                    raise ValueError("token ids must be >= 0")
        return prompt

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, echo: bool) -> bool:
        if echo:
            raise ValueError("echo is not supported")
        return echo

    def prompts(self) -> list[Prompt]:
        """The batch: each prompt is a text or a list of token ids. Choice `i * n + j` of the
        response is sample j of prompt i (OpenAI's order)."""
        prompt = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        if all(isinstance(item, int) for item in prompt):
            return [list(prompt)]  # type: ignore[arg-type]
        return list(prompt)  # type: ignore[arg-type]
