"""Token usage and its estimated cost, per day, model and purpose; prices are configuration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.errors import ConfigError
from bot.storage import UsageStore

# USD per 1M tokens (input, output), as published in late 2026. Defaults only: set PRICES to
# override or add models, e.g. PRICES={"my-model": [0.5, 1.5], "training:my-base": [4, 0]}.
# A key matches a model by prefix (the longest wins); "training:" keys price fine-tuning runs.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "ft:gpt-4.1-mini": (0.80, 3.20),
    "ft:gpt-4.1-nano": (0.20, 0.80),
    "ft:gpt-4.1": (3.00, 12.00),
    "ft:gpt-4o-mini": (0.30, 1.20),
    "ft:gpt-4o": (3.75, 15.00),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "training:gpt-4.1-mini": (5.00, 0.0),
    "training:gpt-4.1-nano": (1.50, 0.0),
    "training:gpt-4.1": (25.00, 0.0),
    "training:gpt-4o-mini": (3.00, 0.0),
    "training:gpt-4o": (25.00, 0.0),
}


def parse_prices(raw: str | None) -> dict[str, tuple[float, float]]:
    """The default prices, updated by the PRICES setting (JSON: model -> [input, output] USD per 1M tokens)."""
    prices = dict(DEFAULT_PRICES)
    if not raw:
        return prices
    try:
        given = json.loads(raw)
        prices.update({str(model): (float(pair[0]), float(pair[1])) for model, pair in given.items()})
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise ConfigError('PRICES must be JSON like {"gpt-5-mini": [0.25, 2.0]} (USD per 1M input and output tokens).') from None
    return prices


@dataclass(frozen=True)
class UsageLine:
    day: str
    purpose: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    calls: int
    cost: float | None  # None when no price is known for the model


class UsageService:
    def __init__(self, store: UsageStore, *, prices: dict[str, tuple[float, float]]) -> None:
        self._store = store
        self._prices = prices

    async def report(self, days: int) -> list[UsageLine]:
        """Usage of the last `days` days (today included), oldest day first."""
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        totals = await self._store.totals(today - timedelta(days=days - 1))
        return [
            UsageLine(t.day, t.purpose, t.model, t.prompt_tokens, t.completion_tokens, t.calls,
                      self.cost(t.model, t.purpose, t.prompt_tokens, t.completion_tokens))
            for t in totals
        ]

    def cost(self, model: str, purpose: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        return estimate_cost(self._prices, model, purpose, prompt_tokens, completion_tokens)


def estimate_cost(
    prices: dict[str, tuple[float, float]], model: str, purpose: str, prompt_tokens: int, completion_tokens: int
) -> float | None:
    """USD for these tokens at the longest-prefix price of the model ("training:" prices for training); None when unpriced."""
    name = f"training:{model}" if purpose == "training" else model
    keys = [key for key in prices if name.startswith(key)]
    if not keys:
        return None
    price_in, price_out = prices[max(keys, key=len)]
    return (prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000
