"""The workshop guide (appendix/workshop.md): schedules that add up, times that agree with the
chapters, references that resolve, install commands that match the tools, nothing the site's
font cannot draw.
"""
from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from conftest import CHAPTERS, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import wheelhouse  # noqa: E402
from chapter_time import estimate_minutes  # noqa: E402

WORKSHOP = ROOT / "appendix" / "workshop.md"
TEXT = WORKSHOP.read_text()
# the same tolerance as a chapter's own "Time" line (tests/test_conventions.py)
LOW, HIGH = 0.85, 1.20


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, re.M | re.S)
    assert match, f"workshop.md has no section '## {title}'"
    return match.group(1)


def _schedule(title: str) -> list[tuple[int, str, str]]:
    """(minute of the day, what, chapter cell) for each row of a schedule table."""
    rows = []
    for line in _section(title).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"\d{1,2}:\d\d", cells[0]):
            hours, minutes = map(int, cells[0].split(":"))
            rows.append((60 * hours + minutes, cells[1], cells[2]))
    assert rows, f"no schedule table in '{title}'"
    return rows


def _blocks(title: str) -> list[tuple[int, str, str]]:
    """(minutes, what, chapter cell) for each block: the time until the next row."""
    rows = _schedule(title)
    return [(nxt[0] - row[0], row[1], row[2]) for row, nxt in zip(rows, rows[1:])]


def _chapters_in(cell: str) -> list[str]:
    return re.findall(r"\{doc\}`(?:[^`<]*<)?\.\./chapters/([^`>]+)>?`", cell)


def test_the_three_hour_workshop_is_what_participants_came_for():
    rows = _schedule("A 3-hour workshop")
    assert rows[-1][1] == "end" and rows[-1][0] - rows[0][0] == 180
    blocks = _blocks("A 3-hour workshop")
    assert all(minutes > 0 for minutes, _, _ in blocks), "the times must increase"
    taught = [c for _, _, cell in blocks for c in _chapters_in(cell)]
    # missing data (the asker's motive) and random slopes are taught in class ...
    for stem in ["03_random_intercept", "05_missing_data", "06_random_slopes",
                 "07_crossed_random_effects"]:
        assert stem in taught, f"{stem} has no block in the 3-hour workshop"
    # ... what participants already know is not
    assert not {"01_data_and_design", "02_rm_anova"} & set(taught)
    buffer = [m for m, what, _ in blocks if what.startswith("buffer")]
    questions = [m for m, what, _ in blocks if what.startswith("questions")]
    assert buffer and buffer[0] >= 10, "the 3-hour plan needs a buffer of 10 minutes or more"
    assert questions and questions[0] >= 10, "leave 10 minutes or more for questions"


def test_the_full_day_has_a_buffer_and_ends_in_the_afternoon():
    rows = _schedule("A full day")
    assert rows[-1][1] == "end" and rows[-1][0] <= 17 * 60
    blocks = _blocks("A full day")
    assert all(minutes > 0 for minutes, _, _ in blocks)
    assert any(what.startswith("buffer") and m >= 15 for m, what, _ in blocks)


@pytest.mark.parametrize("title", ["A 3-hour workshop", "A full day"])
def test_in_class_time_fits_the_block(title):
    """A block's 'N in class' (or, without it, the chapter's whole time) fits its slot."""
    for minutes, what, cell in _blocks(title):
        in_class = re.search(r"(\d+) in class", cell)
        if in_class:
            assert int(in_class.group(1)) <= minutes, f"{what!r}: {cell}"


def test_chapter_times_are_the_estimates_of_chapter_time():
    stated = re.findall(r"\{doc\}`\.\./chapters/([^`]+)` \((\d+) min", TEXT)
    assert len({stem for stem, _ in stated}) >= 6
    for stem, minutes in stated:
        estimate = estimate_minutes(CHAPTERS / f"{stem}.ipynb")
        assert LOW * estimate <= int(minutes) <= HIGH * estimate, (
            f"workshop.md gives {stem} {minutes} min; `python tools/chapter_time.py` "
            f"estimates {estimate} min: write the estimate")
    # and the guide says how the estimate is made, with the rule's own numbers
    timings = " ".join(_section("Timings").split())
    assert "tools/chapter_time.py" in timings
    import chapter_time
    for number in [chapter_time.WORDS_PER_MINUTE, int(chapter_time.MINUTES_PER_EXERCISE)]:
        assert str(number) in timings


def test_every_reference_resolves():
    for target in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", TEXT):
        assert (WORKSHOP.parent / f"{target}.ipynb").exists() or (
            WORKSHOP.parent / f"{target}.md").exists(), f"{{doc}} target {target} is missing"
    labels = set(re.findall(r"^\(([\w-]+)\)=", TEXT, re.M))
    for nb in CHAPTERS.glob("*.ipynb"):
        source = nb.read_text()
        labels |= set(re.findall(r":label:\s*([\w-]+)", source))
        labels |= set(re.findall(r"\(([\w-]+)\)=", source))
    used = re.findall(r"\{(?:numref|ref)\}`(?:[^`<]*<)?([\w-]+)>?`", TEXT)
    assert used, "the schedules name their exercises with {numref}"
    assert set(used) <= labels, f"unknown labels: {sorted(set(used) - labels)}"


def test_no_symbol_the_site_font_may_lack():
    """Plain words and punctuation: no symbol the site's font may draw as a box."""
    odd = sorted({c for c in TEXT if ord(c) > 127
                  and unicodedata.category(c) not in {"Ll", "Lu", "Pd", "Pi", "Pf", "Po"}})
    assert odd == [], f"characters the site's font may not draw: {odd}"


def test_the_install_commands_are_the_tools_commands():
    text = " ".join(TEXT.split())
    assert "pip install -r requirements-student.txt" in text
    assert "pip install --no-index --find-links FOLDER -r requirements-student.txt" in text
    assert "make wheelhouse" in text
    for system in wheelhouse.PLATFORMS:
        assert f"`{system}`" in text or f"`{system}-py" in text, system
    # the folder names the guide shows are targets the tool writes
    for name in re.findall(r"(\w+-\w+-py3\.\d+)", text):
        assert name in wheelhouse.targets(), name
