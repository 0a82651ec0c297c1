"""The book's writing conventions, checked on the source so that a slip cannot come back.

* References to an exercise, chapter, section or figure are Sphinx roles (``{doc}``,
  ``{ref}``, ``{numref}``), never typed numbers: the site numbers exercises across the
  whole book, so "exercise 2" typed in chapter 5 points at the wrong one.
* Chapters 3 to 12 end with a link to the next chapter.
* Code lines are at most 88 characters, so no code cell scrolls sideways on the site.
* Cells that hold R's values (``helpers.r_reference`` or a name starting ``r_``) are
  collapsed (tag ``hide-input``), so a reader who does not know R is not distracted.
* Each chapter's stated time agrees with ``tools/chapter_time.py``'s estimate.
"""
from __future__ import annotations

import json
import re
import sys

import pytest

from conftest import CHAPTERS, ROOT

sys.path.insert(0, str(ROOT / "tools"))
from chapter_time import estimate_minutes, stated_minutes  # noqa: E402

NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb")) + sorted((ROOT / "appendix").glob("*.ipynb"))
MARKDOWN = [ROOT / "intro.md"] + sorted((ROOT / "appendix").glob("*.md"))
MAX_LINE = 88

ROLE = re.compile(r"\{(?:doc|ref|numref|eq)\}`([^`]*)`")
TYPED = re.compile(r"\b(chapters?|ch\.|sections?|figures?|fig\.)\s*\d+", re.I)
TYPED_EXERCISE = re.compile(r"\bexercises?\s*\d+", re.I)


def _markdown_texts():
    for path in NOTEBOOKS:
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "markdown":
                yield f"{path.relative_to(ROOT)} cell {i}", "".join(cell["source"])
    for path in MARKDOWN:
        yield str(path.relative_to(ROOT)), path.read_text()


def _typed_references(text: str) -> list[str]:
    text = re.sub(r"```.*?```", " ", text, flags=re.S)        # code fences
    text = re.sub(r"\$[^$]*\$", " ", text)                      # inline maths
    found = [m.group(0) for m in TYPED_EXERCISE.finditer(text)]  # even inside a role's text
    text = ROLE.sub(" ", text)
    text = re.sub(r"`[^`]*`", " ", text)                        # inline code
    text = re.sub(r"\]\([^)]*\)", "]", text)                    # Markdown link targets
    return found + [m.group(0) for m in TYPED.finditer(text)]


def test_references_are_roles_not_typed_numbers():
    offenders = [f"{where}: {hit!r}" for where, text in _markdown_texts()
                 for hit in _typed_references(text)]
    assert offenders == [], ("write {doc}`...`, {ref}`...` or {numref}`...` instead:\n"
                             + "\n".join(offenders))


@pytest.mark.parametrize("text, hits", [
    ("as exercise 2 below shows", ["exercise 2"]),
    ("see {ref}`Exercise 11 <ch4-ex>`", ["Exercise 11"]),
    ("chapter 3 showed", ["chapter 3"]),
    ("{doc}`chapter 3 <03_random_intercept>` showed", []),
    ("the `chapter 3` string and $x_{chapter 3}$", []),
])
def test_the_typed_reference_check_finds_what_it_should(text, hits):
    assert _typed_references(text) == hits


@pytest.mark.parametrize("number", range(3, 13))
def test_chapters_3_to_12_link_to_the_next_chapter(number):
    this = next(CHAPTERS.glob(f"{number:02d}_*.ipynb"))
    following = next(CHAPTERS.glob(f"{number + 1:02d}_*.ipynb")).stem
    cells = json.loads(this.read_text())["cells"]
    tail = "".join("".join(c["source"]) for c in cells[-4:] if c["cell_type"] == "markdown")
    assert re.search(r"\{doc\}`[^`]*" + re.escape(following) + r">?`", tail), (
        f"{this.name} should end with a {{doc}} link to {following}")


def _code_cells(path):
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "code":
            yield i, cell, "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_lines_fit_the_text_column(path):
    long = [f"cell {i}: {line[:60]}... ({len(line)} characters)"
            for i, _, source in _code_cells(path)
            for line in source.splitlines() if len(line) > MAX_LINE]
    assert long == [], f"lines over {MAX_LINE} characters:\n" + "\n".join(long)


R_VALUES = re.compile(r"\br_reference\(|\br_[a-z0-9_]+\b")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_r_cross_checks_are_collapsed(path):
    open_cells = [f"cell {i}: {source.splitlines()[0][:70]}"
                  for i, cell, source in _code_cells(path)
                  if R_VALUES.search(source)
                  and not {"hide-input", "hide-cell", "remove-cell"}
                  & set(cell.get("metadata", {}).get("tags", []))]
    assert open_cells == [], "tag these R cross-check cells hide-input:\n" + "\n".join(open_cells)


@pytest.mark.parametrize("path", sorted(CHAPTERS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_stated_time_agrees_with_the_estimate(path):
    stated, estimate = stated_minutes(path), estimate_minutes(path)
    assert stated is not None, "the opening box needs '**Time:** about N minutes'"
    assert 0.85 * estimate <= stated <= 1.2 * estimate, (
        f"{path.name} states {stated} minutes; tools/chapter_time.py estimates {estimate}")


@pytest.mark.parametrize("number", [3, 4, 5, 6, 7, 8, 9, 10])
def test_chapters_show_the_statsmodels_call_a_reader_would_write(number):
    """helpers does what statsmodels lacks; the model itself is fitted in plain sight."""
    path = next(CHAPTERS.glob(f"{number:02d}_*.ipynb"))
    calls = [source for _, _, source in _code_cells(path)
             if re.search(r"\bsmf\.mixedlm\(|\bsm\.MixedLM\b|MixedLM\.from_formula\(", source)]
    assert calls, f"{path.name} never writes the statsmodels call itself"


@pytest.mark.parametrize("number", [5, 7])
def test_simulation_chapters_write_their_loop_in_the_notebook(number):
    """DeBruine and Barr: the reader sees the data-generating call inside the loop."""
    path = next(CHAPTERS.glob(f"{number:02d}_*.ipynb"))
    loops = [source for _, cell, source in _code_cells(path)
             if re.search(r"^\s*for\b", source, re.M) and "helpers.simulate_" in source
             and "solution" not in cell.get("metadata", {}).get("tags", [])]
    assert loops, f"{path.name} should show its simulation loop"
