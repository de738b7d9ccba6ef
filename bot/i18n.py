"""The bot's own lines in the customer's language: gettext catalogs (locale/<language>/LC_MESSAGES/bot.po).

Only fixed lines are translated, looked up by their English text: a taught answer or a model's reply is
never in the catalog, so it passes through as it is. English is the fallback for anything not translated.
Messages carry no locale on Discord: they follow BOT_LANGUAGE, else the server's preferred locale;
buttons and commands follow the clicking member's own client language.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

LOCALES = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "bot"
ENGLISH = "en"


def language_of(locale: object) -> str:
    """"ko", "ko-KR", discord.Locale.korean → "ko"; anything without a catalog → "en"."""
    code = str(getattr(locale, "value", locale) or "").split("-")[0].casefold()
    return code if code != ENGLISH and _catalog(code) else ENGLISH


def translate(text: str, language: str) -> str:
    """`text` in `language` when the catalog has it, else as it is."""
    if language == ENGLISH or not text:
        return text
    return _catalog(language).get(text, text)


@cache
def _catalog(language: str) -> dict[str, str]:
    """A language's translated lines, read once; Babel is imported only for a language that has a catalog."""
    if not language.isalpha():
        return {}
    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    from babel.messages.pofile import read_po

    with path.open("rb") as file:
        catalog = read_po(file)
    lines = {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string and not m.fuzzy}
    log.info("loaded %s translated lines for %r", len(lines), language)
    return lines
