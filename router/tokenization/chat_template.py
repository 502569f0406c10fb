"""Render HF-style Jinja chat templates in a sandbox, as `transformers.apply_chat_template` does."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hybridserve.errors import InvalidRequestError


def raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """HF's override of Jinja's `tojson`: no HTML escaping, non-ASCII kept as is."""
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


@lru_cache(maxsize=8)
def compile_template(source: str) -> jinja2.Template:
    """Same environment settings as HF, so Hub templates render byte-identically."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)


def normalize_message(message: dict[str, Any]) -> dict[str, Any]:
    """A copy in the shape templates expect: text parts joined, `reasoning` aliased to
    `reasoning_content`, and tool-call arguments given as JSON strings (OpenAI style) parsed."""
    out = dict(message)
    if isinstance(out.get("content"), list):
        out["content"] = "\n".join(
            part["text"] for part in out["content"] if isinstance(part, dict) and "text" in part
        )
    if out.get("reasoning_content") is None and out.get("reasoning") is not None:
        out["reasoning_content"] = out["reasoning"]
    if out.get("tool_calls"):
        out["tool_calls"] = [_parse_arguments(call) for call in out["tool_calls"]]
    return out


def _parse_arguments(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return call
    try:
        arguments = json.loads(function["arguments"])
    except json.JSONDecodeError as e:
        raise InvalidRequestError(f"tool call arguments are not valid JSON: {e}") from e
    if not isinstance(arguments, dict):
        raise InvalidRequestError("tool call arguments must be a JSON object")
    return {**call, "function": {**function, "arguments": arguments}}


def render_chat(
    source: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = True,
    **template_kwargs: Any,
) -> str:
    """Render `messages` (OpenAI chat format) with the template text `source`; a template that
    rejects the conversation (`raise_exception`, a type error) raises `InvalidRequestError`."""
    template = compile_template(source)
    try:
        return template.render(
            messages=[normalize_message(m) for m in messages],
            tools=tools,
            add_generation_prompt=add_generation_prompt,
            **template_kwargs,
        )
    except (jinja2.exceptions.TemplateError, TypeError) as e:
        raise InvalidRequestError(f"chat template: {e}") from e
