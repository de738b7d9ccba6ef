"""The bot's own lines in the reader's language: gettext catalogs (locale/<language>/LC_MESSAGES/bot.po, compiled to .mo).

A fixed line is written in English and marked for the catalog:
- `_("Job `{job}` is still {status}.", job=job.id, status=job.status)` keeps the line and its values
  until it is sent, where `localize(line, language)` looks it up and fills it in; `str(line)` is English
  (logs, and anything that forgets to localize);
- `_n(singular, plural, count, ...)` when English needs a plural;
- `N_("...")` marks a plain constant; `localize` looks it up by its English text.
`tests/test_i18n.py` extracts every marked line with Babel and fails when the Korean catalog misses one.

Only fixed lines are translated: a taught answer or a model's reply is never in the catalog, so it passes through as
it is. English is the fallback. Messages carry no locale on Discord: they follow BOT_LANGUAGE, else the server's
preferred locale; buttons and commands follow the member's own client language.
"""

from __future__ import annotations

import gettext
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "bot"
ENGLISH = "en"


class Line:
    """A fixed line and its values, put into the reader's language when it is sent."""

    __slots__ = ("template", "values", "plural")

    def __init__(self, template: str, values: dict[str, object] | None = None, plural: str | None = None) -> None:
        self.template = template
        self.values = values or {}
        self.plural = plural  # with a plural, values["count"] chooses the form

    def localize(self, language: str) -> str:
        text = _lookup(self.template, language, self.plural, self.values.get("count"))
        if not self.values:
            return text
        return text.format(**{name: _localized_value(value, language) for name, value in self.values.items()})

    def __str__(self) -> str:
        return self.localize(ENGLISH)

    def __repr__(self) -> str:
        return f"Line({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Line):
            return (self.template, self.values, self.plural) == (other.template, other.values, other.plural)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class Lines:
    """Several lines (or plain strings) sent as one text, each in the reader's language."""

    __slots__ = ("parts", "separator")

    def __init__(self, parts: Iterable[Text], separator: str = "\n") -> None:
        self.parts = [part for part in parts if part]
        self.separator = separator

    def localize(self, language: str) -> str:
        return self.separator.join(localize(part, language) for part in self.parts)

    def __str__(self) -> str:
        return self.localize(ENGLISH)

    def __bool__(self) -> bool:
        return bool(self.parts)


Text = str | Line | Lines


def _(template: str, /, **values: object) -> Line:
    """A line for the catalog; its `{values}` are filled in after translation (values that are lines are localized too)."""
    return Line(template, values)


def _n(singular: str, plural: str, count: int, /, **values: object) -> Line:
    """A line whose English depends on a count (`{count}` in it is the count)."""
    return Line(singular, {"count": count, **values}, plural)


def N_(text: str) -> str:
    """Marks a plain constant for the catalog: it stays a string, and `localize` looks it up when it is sent."""
    return text


def dump(text: Text) -> str:
    """`text` as kept in the database: a line keeps its template and values (JSON), to be shown in the reader's language."""
    return text if isinstance(text, str) else json.dumps(_plain(text), ensure_ascii=False, default=str)


def stored(text: str) -> Text:
    """Text kept in the database: a dumped line, one of the bot's own constants (N_), or anything else (a provider's
    message, a customer's words), which is shown as it is."""
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and ("line" in data or "lines" in data):
            return _revived(data)
    return Line(text)


def _plain(value: object) -> object:
    if isinstance(value, Line):
        return {"line": value.template, "plural": value.plural, "values": {k: _plain(v) for k, v in value.values.items()}}
    if isinstance(value, Lines):
        return {"lines": [_plain(part) for part in value.parts], "separator": value.separator}
    return value


def _revived(value: object) -> object:
    if isinstance(value, dict) and "line" in value:
        return Line(value["line"], {k: _revived(v) for k, v in (value.get("values") or {}).items()}, value.get("plural"))
    if isinstance(value, dict) and "lines" in value:
        return Lines([_revived(part) for part in value["lines"]], value.get("separator", "\n"))  # type: ignore[misc]
    return value


def languages() -> list[str]:
    """English and every language with a compiled catalog."""
    return [ENGLISH, *sorted(path.parent.parent.name for path in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))]


def localize(text: Text | None, language: str) -> str:
    """`text` as the reader sees it: a line translated and filled in, a plain string looked up by its English."""
    if text is None:
        return ""
    if isinstance(text, Line | Lines):
        return text.localize(language)
    return translate(text, language)


def _localized_value(value: object, language: str) -> object:
    return value.localize(language) if isinstance(value, Line | Lines) else value


def language_of(locale: object) -> str:
    """"ko", "ko-KR", discord.Locale.korean → "ko"; anything without a catalog → "en"."""
    code = str(getattr(locale, "value", locale) or "").split("-")[0].casefold()
    return code if code != ENGLISH and _catalog(code) is not None else ENGLISH


def translate(text: str, language: str) -> str:
    """`text` in `language` when the catalog has it, else as it is."""
    catalog = _catalog(language) if language != ENGLISH and text else None
    return catalog.gettext(text) if catalog is not None else text


def _lookup(template: str, language: str, plural: str | None, count: object) -> str:
    if plural is None:
        return translate(template, language)
    catalog = _catalog(language) if language != ENGLISH else None
    if catalog is None:
        return template if count == 1 else plural
    return catalog.ngettext(template, plural, count if isinstance(count, int) else 0)


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
