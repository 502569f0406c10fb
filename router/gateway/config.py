"""`GatewayConfig`: where the router is, where to listen, API keys and request limits."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_BODY_BYTES = 32 << 20


@dataclass(frozen=True)
class GatewayConfig:
    """`api_keys` empty = no authentication. `default_max_tokens` fills a chat request that sets
    no output limit (None: none, generation runs until EOS, a stop or the context limit; the
    completions API defaults to 16 like OpenAI's). `request_timeout_s` None = no deadline on
    router calls."""

    router_address: str
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    default_max_tokens: int | None = None
    request_timeout_s: float | None = None
    log_level: str = "warning"
