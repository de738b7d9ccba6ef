"""Token counts: exact with the real tokenizers, offline (for datasets), or a cheap estimate (for chat history).

The real tables cost 50-130 MB of memory once loaded, so the bot process never loads them: datasets
are validated in a worker process, and conversation budgets use `estimate_tokens`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache


def encoding_for(model: str) -> str:
    """The tokenizer a model family uses: cl100k for gpt-3.5 and gpt-4 (not 4o/4.1), o200k otherwise."""
    base = model.removeprefix("ft:")
    return "cl100k_base" if re.match(r"gpt-(3\.5|4(?![o.]))", base) else "o200k_base"


# The longest training example each base-model family takes, as OpenAI publishes it; longer examples are
# truncated by the provider. Most specific prefix first; FINETUNE_MAX_TOKENS overrides, unknown models get it.
DEFAULT_EXAMPLE_TOKENS = 65_536
EXAMPLE_TOKENS_BY_FAMILY = (
    ("gpt-4.1", 65_536),
    ("gpt-4o-mini", 65_536),
    ("gpt-4o", 65_536),
    ("gpt-3.5-turbo-0613", 4_096),
    ("gpt-3.5", 16_385),
)


def example_token_limit(model: str, override: int | None = None) -> int:
    """The longest training example `model` takes: FINETUNE_MAX_TOKENS when set, else its family's published limit."""
    if override is not None:
        return override
    base = model.removeprefix("ft:")
    return next((limit for prefix, limit in EXAMPLE_TOKENS_BY_FAMILY if base.startswith(prefix)), DEFAULT_EXAMPLE_TOKENS)


@cache
def encoder(encoding: str) -> Callable[[str], list[int]]:
    import bpe_openai  # imported here: the import alone costs about 70 MB, and only validation needs it

    return bpe_openai.get_encoding(encoding).encode_ordinary


def count_tokens(text: str, encoding: str = "o200k_base") -> int:
    return len(encoder(encoding)(text))


def estimate_tokens(text: str) -> int:
    """An upper-leaning estimate without the tables: about one token per three bytes of UTF-8.

    Real tokenizers average about four bytes of English or three of Korean per token, so this errs
    high: a history trimmed to a budget by it never overflows the real context.
    """
    return len(text.encode("utf-8")) // 3 + 1
