"""Token counts with the real tokenizers, offline (bpe-openai bundles the tables)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

import bpe_openai


def encoding_for(model: str) -> str:
    """The tokenizer a model family uses: cl100k for gpt-3.5 and gpt-4 (not 4o/4.1), o200k otherwise."""
    base = model.removeprefix("ft:")
    return "cl100k_base" if re.match(r"gpt-(3\.5|4(?![o.]))", base) else "o200k_base"


@cache
def encoder(encoding: str) -> Callable[[str], list[int]]:
    return bpe_openai.get_encoding(encoding).encode_ordinary


def count_tokens(text: str, encoding: str = "o200k_base") -> int:
    return len(encoder(encoding)(text))
