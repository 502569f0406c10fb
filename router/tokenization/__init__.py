"""Text <-> token ids for the router: tokenizer, chat template, streaming detokenizer, stops."""

from __future__ import annotations

from hybridserve.router.tokenization.detokenizer import IncrementalDetokenizer
from hybridserve.router.tokenization.stop_strings import StopStringMatcher
from hybridserve.router.tokenization.tokenizer import Tokenizer, find_tokenizer, load_tokenizer

__all__ = [
    "IncrementalDetokenizer",
    "StopStringMatcher",
    "Tokenizer",
    "find_tokenizer",
    "load_tokenizer",
]
