"""`Tokenizer`: a HF tokenizer folder (tokenizer.json, tokenizer_config.json, chat template)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tokenizers

from hybridserve.errors import ConfigError
from hybridserve.router.tokenization.chat_template import compile_template, render_chat

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

CHAT_END_TOKEN = "<|im_end|>"
# Model presets (hybridserve.workers.models.presets) -> packaged tokenizer folder, or None.
PRESET_TOKENIZERS: dict[str, str | None] = {"tiny": "tiny", "nemotron-3-nano-30b-a3b": None}


class Tokenizer:
    """Encode, decode and chat-render for one model; immutable after construction.
    `eos_token_ids` are the ids that end an assistant turn: the config's eos and `<|im_end|>`."""

    def __init__(
        self,
        backend: tokenizers.Tokenizer,
        config: dict[str, Any] | None = None,
        chat_template: str | None = None,
    ) -> None:
        self._backend = backend
        self._config = dict(config or {})
        self.chat_template = chat_template
        if chat_template is not None:
            compile_template(chat_template)  # a broken template fails at load, not per request
        self.bos_token = _token_text(self._config.get("bos_token"))
        self.eos_token = _token_text(self._config.get("eos_token"))
        self.pad_token = _token_text(self._config.get("pad_token"))
        eos = [self.token_id(t) for t in (self.eos_token, CHAT_END_TOKEN) if t is not None]
        self.eos_token_ids: tuple[int, ...] = tuple(dict.fromkeys(i for i in eos if i is not None))

    @classmethod
    def from_folder(cls, folder: Path | Traversable) -> Tokenizer:
        """Load `tokenizer.json`, plus `tokenizer_config.json` and `chat_template.jinja` if
        present (the template file wins over the config's `chat_template` key)."""
        if not (folder / "tokenizer.json").is_file():
            raise ConfigError(f"tokenizer: no tokenizer.json in {folder}")
        backend = tokenizers.Tokenizer.from_str(_read(folder, "tokenizer.json"))
        config_text = _read(folder, "tokenizer_config.json")
        config = json.loads(config_text) if config_text is not None else {}
        template = _read(folder, "chat_template.jinja") or config.get("chat_template")
        if isinstance(template, list):  # the older list of named templates
            template = next((t["template"] for t in template if t.get("name") == "default"), None)
        return cls(backend, config, template)

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    def token_id(self, token: str) -> int | None:
        return self._backend.token_to_id(token)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Special-token strings in `text` (e.g. from a rendered template) become their ids."""
        return self._backend.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self._backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def apply_chat_template(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        **template_kwargs: Any,
    ) -> str:
        """The prompt text for an OpenAI-style conversation. `template_kwargs` reach the
        template (e.g. `enable_thinking=False`), over the special tokens it can also read."""
        if self.chat_template is None:
            raise ConfigError("tokenizer: this model has no chat template")
        specials = {
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "pad_token": self.pad_token,
        }
        kwargs = {**specials, **template_kwargs}
        return render_chat(self.chat_template, messages, tools, add_generation_prompt, **kwargs)


def load_tokenizer(source: str) -> Tokenizer:
    """`source` is a folder or the name of a model preset that ships a tokenizer ("tiny")."""
    if source in PRESET_TOKENIZERS:
        asset = PRESET_TOKENIZERS[source]
        if asset is None:
            raise ConfigError(f"tokenizer: preset {source!r} ships no tokenizer; pass a folder")
        return Tokenizer.from_folder(files("hybridserve") / "assets" / asset)
    if not Path(source).is_dir():
        raise ConfigError(f"tokenizer: {source!r} is neither a preset nor a folder")
    return Tokenizer.from_folder(Path(source))


def find_tokenizer(model: str) -> Tokenizer | None:
    """The tokenizer of `model` (a preset name or a HF folder), or None when it has none
    (the full-size preset, a folder without tokenizer.json)."""
    if PRESET_TOKENIZERS.get(model, "") is None:
        return None
    if model not in PRESET_TOKENIZERS and not (Path(model) / "tokenizer.json").is_file():
        return None
    return load_tokenizer(model)


def _read(folder: Path | Traversable, name: str) -> str | None:
    path = folder / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _token_text(token: str | dict[str, Any] | None) -> str | None:
    """Configs write a token as its text or as a serialized AddedToken dict."""
    return token.get("content") if isinstance(token, dict) else token
