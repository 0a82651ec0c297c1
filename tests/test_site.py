"""The site builds with warnings as errors, and every page has what a reader needs."""
from __future__ import annotations

import re

import pytest

from conftest import ROOT, toc_files

HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def build(built_site):
    return built_site


@pytest.mark.slow
def test_site_builds_with_warnings_as_errors(build):
    log = build.stdout + build.stderr
    assert build.returncode == 0, log[-4000:]
    assert not re.search(r"\b(WARNING|ERROR|CRITICAL): ", log), log[-4000:]


def _page(file: str) -> str:
    return (HTML / f"{file}.html").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("file", toc_files())
def test_every_page_is_built_without_error_output(build, file):
    assert build.returncode == 0
    html = _page(file)
    assert "<h1>" in html or "<h1 " in html
    assert "Traceback (most recent call last)" not in html
    assert 'class="output traceback' not in html and "output error" not in html


@pytest.mark.slow
@pytest.mark.parametrize("file", [f for f in toc_files() if f.startswith("chapters/")])
def test_chapter_pages_have_figures_exercises_and_hidden_solutions(build, file):
    html = _page(file)
    assert re.search(r'<img[^>]+src="[^"]+\.png"', html), "no rendered figure"
    exercises = re.findall(r'class="[^"]*\bexercise\b', html)
    solutions = re.findall(r'class="[^"]*\bsolution\b[^"]*\bdropdown\b', html)
    assert 2 <= len(exercises) <= 3 or len(exercises) >= 2
    assert len(solutions) >= len(set(re.findall(r'id="(ch\d\d-ex-[\w-]+)"', html)))
    assert len(solutions) >= 2
    # the download button offers the notebook itself
    assert re.search(r'_sources/chapters/[\w-]+\.ipynb', html), "no .ipynb download link"


@pytest.mark.slow
def test_the_execution_table_says_ran_in_words(build):
    """myst-nb marks each notebook with an emoji the site's font lacks; the book writes words."""
    html = _page("appendix/workshop")
    table = html[html.index("Status"):]
    assert "\u2705" not in html and "\u274c" not in html
    assert table.count(">ran<") >= len([f for f in toc_files() if f.startswith("chapters/")])
