"""Split long replies into message-sized chunks without breaking paragraphs, sentences or code blocks."""

from __future__ import annotations

import re

DISCORD_LIMIT = 2000

_FENCE = "```"
_NOT_WORD = re.compile(r"[^\w\s]")
# Zero-width characters and bidirectional controls: invisible, so a message of only these is empty.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Split points, coarsest first: sentence ends and line breaks, then any white space.
_TEXT_SPLITS = (re.compile(r"(?<=[.!?。！？…])\s+|\n+"), re.compile(r"\s+"))

Piece = tuple[str, str]  # (separator that goes before it when joined, text)


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """Chunks of at most `limit` characters; a code block is never cut open, a too-long one is re-fenced."""
    chunks: list[str] = []
    current = ""
    for sep, piece in _pieces(text.strip(), limit):
        if not current:
            current = piece
        elif len(current) + len(sep) + len(piece) <= limit:
            current += sep + piece
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _pieces(text: str, limit: int) -> list[Piece]:
    pieces: list[Piece] = []
    for block, is_code in _blocks(text):
        parts = _split_code(block, limit) if is_code else _split_text(block, limit, _TEXT_SPLITS)
        pieces += _with_sep("\n\n", parts)
    return pieces


def _blocks(text: str) -> list[tuple[str, bool]]:
    """Paragraphs (split on blank lines) and fenced code blocks, in order."""
    blocks: list[tuple[str, bool]] = []
    lines: list[str] = []
    in_code = False

    def flush(is_code: bool) -> None:
        if lines:
            blocks.append(("\n".join(lines), is_code))
            lines.clear()

    for line in text.split("\n"):
        # A line with an even number of fences (```ls -la```) opens and closes on itself.
        is_fence = line.count(_FENCE) % 2 == 1
        if in_code:
            lines.append(line)
            if is_fence:
                flush(True)
                in_code = False
        elif is_fence:
            flush(False)
            lines.append(line)
            in_code = True
        elif not line.strip():
            flush(False)
        else:
            lines.append(line)
    flush(in_code)
    return blocks


def _split_text(text: str, limit: int, splits: tuple[re.Pattern[str], ...]) -> list[Piece]:
    if len(text) <= limit:
        return [("", text)]
    if not splits:
        return [("", text[i : i + limit]) for i in range(0, len(text), limit)]
    pieces: list[Piece] = []
    start, sep = 0, ""
    for match in splits[0].finditer(text):
        pieces += _with_sep(sep, _split_text(text[start : match.start()], limit, splits[1:]))
        start, sep = match.end(), match.group()
    pieces += _with_sep(sep, _split_text(text[start:], limit, splits[1:]))
    return [(s, p) for s, p in pieces if p]


def _split_code(block: str, limit: int) -> list[Piece]:
    """A code block too long for one message becomes several, each with its own fences."""
    if len(block) <= limit:
        return [("", block)]
    lines = block.split("\n")
    opening = lines[0].strip()
    body = lines[1:-1] if lines[-1].strip().startswith(_FENCE) and len(lines) > 1 else lines[1:]
    room = limit - len(opening) - len(_FENCE) - 2  # two newlines around the body
    pieces: list[Piece] = []
    current: list[str] = []
    size = 0
    for line in body:
        for part in [line[i : i + room] for i in range(0, len(line), room)] or [""]:
            if current and size + 1 + len(part) > room:
                pieces.append(("\n", f"{opening}\n" + "\n".join(current) + f"\n{_FENCE}"))
                current, size = [], 0
            size += len(part) + (1 if current else 0)
            current.append(part)
    if current:
        pieces.append(("\n", f"{opening}\n" + "\n".join(current) + f"\n{_FENCE}"))
    return pieces


def _with_sep(sep: str, pieces: list[Piece]) -> list[Piece]:
    if not pieces:
        return pieces
    return [(sep, pieces[0][1]), *pieces[1:]]


def normalise_question(text: str) -> str:
    """The form two questions share when they are the same question (case, spaces, punctuation)."""
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


def cut_head(text: str, limit: int = DISCORD_LIMIT) -> tuple[str, str]:
    """Cut a growing text into a message of at most `limit` characters and the rest, at the best boundary.

    Unlike split_message it never rewrites the text: head + rest is the text, except that a code
    block open at the cut is closed in the head and reopened in the rest.
    """
    if len(text) <= limit:
        return text, ""
    window = text[: limit - len(_FENCE) - 1]  # room to close a code block
    cut = 0
    for pattern in (r"\n\s*\n", r"\n", r"(?<=[.!?。！？…])\s", r"\s"):
        ends = [m.end() for m in re.finditer(pattern, window)]
        if ends and ends[-1] > len(window) // 2:
            cut = ends[-1]
            break
    cut = cut or len(window)
    head, rest = text[:cut].rstrip(), text[cut:].lstrip("\n")
    opening = _open_fence(head)
    if opening is not None:
        head, rest = f"{head}\n{_FENCE}", f"{opening}\n{rest}"
    return head, rest


def _open_fence(text: str) -> str | None:
    """The opening line of a code block left open at the end of `text`, if any."""
    opening = None
    for line in text.split("\n"):
        if line.count(_FENCE) % 2 == 1:
            opening = None if opening is not None else line.strip()
    return opening


def clean(text: str) -> str:
    """Text as a person sees it: invisible characters removed, outer white space trimmed."""
    return _INVISIBLE.sub("", text).strip()


def clip(text: str, most: int) -> str:
    """At most `most` characters, an ellipsis where it was cut; line breaks kept."""
    return text if len(text) <= most else text[: most - 1] + "…"


def shorten(text: str, most: int) -> str:
    """One line of at most `most` characters: whitespace folded, an ellipsis where it was cut."""
    return clip(" ".join(text.split()), most)


def first_line(text: str) -> str:
    """The first line with any text in it ("" when there is none)."""
    return next((line for line in text.splitlines() if line.strip()), "")
