"""The bot's own lines in the customer's language: gettext catalogs (locale/<language>/LC_MESSAGES/bot.po, compiled to .mo).

Only fixed lines are translated, looked up by their English text: a taught answer or a model's reply is
never in the catalog, so it passes through as it is. English is the fallback for anything not translated.
Messages carry no locale on Discord: they follow BOT_LANGUAGE, else the server's preferred locale;
buttons and commands follow the clicking member's own client language.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "bot"
ENGLISH = "en"


def language_of(locale: object) -> str:
    """"ko", "ko-KR", discord.Locale.korean → "ko"; anything without a catalog → "en"."""
    code = str(getattr(locale, "value", locale) or "").split("-")[0].casefold()
    return code if code != ENGLISH and _catalog(code) is not None else ENGLISH


def translate(text: str, language: str) -> str:
    """`text` in `language` when the catalog has it, else as it is."""
    catalog = _catalog(language) if language != ENGLISH and text else None
    return catalog.gettext(text) if catalog is not None else text


def catalog_path(language: str, extension: str = "mo") -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.{extension}"


@cache
def _catalog(language: str) -> gettext.GNUTranslations | None:
    """A language's compiled catalog (the .mo `scripts/translations` makes from the .po), read once with the standard library."""
    path = catalog_path(language) if language.isalpha() else None
    if path is None or not path.is_file():
        return None
    with path.open("rb") as file:
        return gettext.GNUTranslations(file)
