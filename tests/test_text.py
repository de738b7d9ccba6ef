"""Splitting long replies for Discord's 2,000-character limit."""

from __future__ import annotations

from bot.text import cut_head, split_message


def test_short_text_is_one_chunk():
    """Text under the limit is sent as it is."""
    assert split_message("Hello there.") == ["Hello there."]


def test_empty_text_gives_no_chunks():
    """Nothing to send means no message."""
    assert split_message("  \n ") == []


def test_splits_on_paragraph_boundaries():
    """Paragraphs stay whole when each fits."""
    paragraphs = ["a" * 900, "b" * 900, "c" * 900]
    assert split_message("\n\n".join(paragraphs)) == ["a" * 900 + "\n\n" + "b" * 900, "c" * 900]


def test_long_paragraph_splits_on_sentences():
    """A paragraph over the limit is cut between sentences, not inside one."""
    sentence = "This sentence has exactly some words in it. "
    text = (sentence * 100).strip()
    chunks = split_message(text)
    assert len(chunks) > 1
    assert all(len(c) <= 2000 for c in chunks)
    assert all(c.endswith("in it.") for c in chunks)
    assert " ".join(chunks) == text


def test_korean_sentences_split_at_sentence_ends():
    """Korean text splits after sentence punctuation too."""
    sentence = "주문하신 상품은 영업일 기준 이틀 안에 출고됩니다. "
    text = (sentence * 120).strip()
    chunks = split_message(text)
    assert all(len(c) <= 2000 and c.endswith("출고됩니다.") for c in chunks)


def test_code_block_is_never_split_when_it_fits_in_a_message():
    """A code block that fits in one message is kept whole even if it must start a new one."""
    code = "```python\n" + "\n".join(f"print({n})" for n in range(150)) + "\n```"
    text = "x" * 1000 + "\n\n" + code
    chunks = split_message(text)
    assert chunks == ["x" * 1000, code]


def test_code_block_longer_than_a_message_is_refenced_in_each_chunk():
    """A code block too long for one message is split between lines, each part fenced."""
    lines = [f"line_{n:04d} = {n}" for n in range(400)]
    text = "```py\n" + "\n".join(lines) + "\n```"
    chunks = split_message(text)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk) <= 2000
        assert chunk.startswith("```py\n") and chunk.endswith("\n```")
    body = [line for c in chunks for line in c.split("\n")[1:-1]]
    assert body == lines


def test_text_without_spaces_is_cut_hard():
    """A single unbroken run longer than the limit is still cut to fit."""
    chunks = split_message("가" * 4500)
    assert [len(c) for c in chunks] == [2000, 2000, 500]


def test_custom_limit():
    """The limit is a parameter, for other places with other limits."""
    assert split_message("one. two. three.", limit=10) == ["one. two.", "three."]


def test_one_line_code_span_does_not_open_a_code_block():
    """```ls -la``` on one line opens and closes itself; the prose after it splits as prose."""
    prose = "Then do this step. " * 150
    text = "To list files:\n```ls -la```\n\n" + prose + "\n\n```py\nprint(1)\n```"
    chunks = split_message(text)
    assert all(c.count("```") % 2 == 0 for c in chunks)
    assert all(c.rstrip().endswith((".", "```")) for c in chunks)
    assert chunks[-1].endswith("```py\nprint(1)\n```")


def test_cut_head_keeps_every_character_at_a_paragraph_boundary():
    """A growing reply is cut where a paragraph ends; head and rest together are the text."""
    text = "\n\n" + "\n\n\n".join(f"Sentence number {n} is here to fill the glass." for n in range(80))
    head, rest = cut_head(text)
    assert len(head) <= 2000 and head.endswith("glass.")
    assert head + "\n\n" + rest == text.rstrip() or (head + text[len(head):]).replace(" ", "") == text.replace(" ", "")
    assert " ".join((head + " " + rest).split()) == " ".join(text.split())


def test_cut_head_closes_and_reopens_a_code_block():
    """A code block open at the cut is closed in the head and reopened in the rest."""
    text = "Recipe:\n```text\n" + "\n".join(f"line {n} of the recipe card" for n in range(120)) + "\n```\nEnjoy!"
    head, rest = cut_head(text)
    assert len(head) <= 2000 and head.endswith("\n```") and rest.startswith("```text\n")
    body = [line for line in (head + "\n" + rest).split("\n") if line.startswith("line ")]
    assert body == [f"line {n} of the recipe card" for n in range(120)]


def test_cut_head_leaves_short_text_alone():
    """Text that fits is not cut."""
    assert cut_head("hello") == ("hello", "")
