"""The catalogs: every line marked for translation in bot/ and cogs/ has its Korean, with the same placeholders."""

from __future__ import annotations

import ast
import io
import string
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.i18n import Lines, _, catalog_path, localize

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "_n": (1, 2), "N_": None}
MARKS = {"_", "_n", "N_"}


def marked() -> dict[str, str]:
    """Every marked English line (a plural's singular) -> where it is, as Babel extracts them (the standard gettext keywords)."""
    found = {}
    for folder in ("bot", "cogs"):
        for filename, line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.setdefault(message[0] if isinstance(message, tuple) else message, f"{folder}/{filename}:{line}")
    return found


def korean() -> dict[str, object]:
    with catalog_path("ko", "po").open("rb") as po:
        return {m.id if isinstance(m.id, str) else m.id[0]: m for m in read_po(po) if m.id}


def placeholders(text: str) -> set[tuple[str, str, str | None]]:
    """Each {value} with its format spec and conversion: a translation must keep all three (str.format fails otherwise)."""
    return {(name, spec or "", conversion) for _, name, spec, conversion in string.Formatter().parse(text) if name is not None}


def test_every_marked_line_has_its_korean_with_the_same_placeholders():
    """A line added without its Korean translation, or a translation that drops, renames or reformats a {value}, fails here."""
    catalog = korean()
    lines = marked()
    assert len(lines) > 300  # the extraction found the marks
    missing = [f"{where}: {text}" for text, where in lines.items() if text not in catalog or catalog[text].fuzzy or not catalog[text].string]
    assert missing == [], "add these to locale/ko/LC_MESSAGES/bot.po, then run scripts/translations"
    wrong = []
    for text in lines:
        message = catalog[text]
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        translations = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set().union(*(placeholders(e) for e in english))  # a plural's one Korean form: what either English form has
        for translation in translations:
            if placeholders(translation) != expected:
                wrong.append(f"{lines[text]}: {translation}")
    assert wrong == []


def test_every_marked_line_is_given_the_values_it_names():
    """`_("… {job} …")` without job= would fail with KeyError when the line is sent: every {value} must be passed."""
    unfilled = []
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "_n")):
                continue
            if any(keyword.arg is None for keyword in node.keywords):
                continue  # **values: checked where they are built
            given = {keyword.arg for keyword in node.keywords} | ({"count"} if node.func.id == "_n" else set())
            templates = [arg.value for arg in node.args[: 2 if node.func.id == "_n" else 1] if isinstance(arg, ast.Constant)]
            named = {name for template in templates for name, _, _ in placeholders(template)}
            if named - given:
                unfilled.append(f"{path.relative_to(ROOT)}:{node.lineno}: {sorted(named - given)}")
    assert unfilled == []


def test_lines_are_marked_with_literal_english_only():
    """`_(f"...")` or `_(variable)` cannot be extracted into the catalog: the values go in as keywords instead."""
    bad = []
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKS:
                literal = [isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in node.args[: 2 if node.func.id == "_n" else 1]]
                if not node.args or not all(literal):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bad == []


def test_the_compiled_catalog_the_bot_reads_is_the_one_in_the_po_file():
    """Editing a .po without running scripts/translations fails here, instead of showing customers old lines."""
    with catalog_path("ko", "po").open("rb") as po:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(po))
    assert catalog_path("ko").read_bytes() == compiled.getvalue()


def test_a_line_is_filled_in_after_translation_and_english_is_the_fallback():
    line = _("Job `{job}` is still {status}. Wait for it to finish or `/cancel` it first.", job="ftjob-1", status="running")
    assert str(line) == "Job `ftjob-1` is still running. Wait for it to finish or `/cancel` it first."
    assert localize(line, "ko").startswith("작업 `ftjob-1`")
    assert localize(line, "fr") == str(line)
    assert localize(Lines([line, "", "plain"]), "en") == f"{line}\nplain"


def test_a_plural_follows_the_count_in_english_and_korean_has_one_form():
    from cogs.admin import render_usage

    assert [str(render_usage([], days)) for days in (1, 7)] == ["No model usage in the last day.", "No model usage in the last 7 days."]
    assert localize(render_usage([], 7), "ko") == "최근 7일 동안 모델 사용 내역이 없어요."


def test_a_value_may_be_called_count_outside_a_plural_too():
    line = _("Job `{job}` is still {count}. Wait for it to finish or `/cancel` it first.", job="ftjob-1", count=3)
    assert str(line) == "Job `ftjob-1` is still 3. Wait for it to finish or `/cancel` it first."


def test_a_line_kept_in_the_database_comes_back_in_the_readers_language():
    """Model-history reasons are stored with their values (nested lines too), and older plain reasons show as they were."""
    from bot.i18n import dump, stored

    summary = _("`{model}`: no questions to evaluate on", model="gpt-5-mini")
    reason = Lines([_("fine-tuning job {job} succeeded", job="ftjob-1"), _("evaluated {candidate} against {live}", candidate=summary, live=summary)], "; ")
    kept = stored(dump(reason))
    assert str(kept) == "fine-tuning job ftjob-1 succeeded; evaluated `gpt-5-mini`: no questions to evaluate on against `gpt-5-mini`: no questions to evaluate on"
    assert localize(kept, "ko") == localize(reason, "ko") and localize(kept, "ko").startswith("파인튜닝 작업 ftjob-1 완료; 평가: ")
    assert localize(stored("rollback from gpt-4o"), "ko") == "rollback from gpt-4o"  # written before reasons kept their values
    assert localize(stored('{"a": 1}'), "ko") == '{"a": 1}'
