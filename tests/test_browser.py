"""The built site as a reader sees it, in headless Chromium (Debian's, driven by Playwright).

Every page is loaded from a local server; the test records every request and console
message, and fails on a request to any other host, on a console error, on error output,
on a chapter without a rendered figure, on solutions that are visible before a click or
hidden after it, and if the site's search cannot find "variance components".
A screenshot of every page goes to _build/screenshots/ for a person to look at.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from conftest import ROOT, toc_files

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "_build" / "screenshots"
PAGES = toc_files()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(built_site):
    assert built_site.returncode == 0, (built_site.stdout + built_site.stderr)[-3000:]
    handler = functools.partial(_QuietHandler, directory=str(ROOT / "_build" / "html"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = "Chromium not found: install Debian's package (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


class Visit:
    """One page load with every request, console message and page error recorded."""

    def __init__(self, browser, url):
        self.requests, self.console, self.errors = [], [], []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")

    def outside_requests(self, origin):
        allowed = {urlparse(origin).netloc}
        return [u for u in self.requests
                if urlparse(u).scheme not in ("data", "blob", "about")
                and urlparse(u).netloc not in allowed]

    def console_errors(self):
        return [text for kind, text in self.console if kind == "error"] + self.errors


@pytest.mark.parametrize("file", PAGES)
def test_page_loads_offline_and_cleanly(site, browser, file):
    visit = Visit(browser, f"{site}/{file}.html")
    page = visit.page
    try:
        if page.locator(".math").count():
            page.wait_for_function("() => document.querySelectorAll('.MathJax').length > 0",
                                   timeout=15000)
        assert visit.outside_requests(site) == []
        assert visit.console_errors() == []
        heading = page.locator("h1").first.inner_text().strip()
        assert heading and page.title().startswith(heading[:20])
        assert page.locator(".output.error, .output.traceback, .output.stderr").count() == 0
        assert "Traceback (most recent call last)" not in page.content()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / (file.replace("/", "__") + ".png")), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("file", [f for f in PAGES if f.startswith("chapters/")])
def test_chapter_has_figures_hidden_solutions_and_a_notebook_download(site, browser, file):
    visit = Visit(browser, f"{site}/{file}.html")
    page = visit.page
    try:
        widths = page.eval_on_selector_all(".cell_output img", "els => els.map(e => e.naturalWidth)")
        assert widths and min(widths) > 0, "no rendered figure"
        solutions = page.locator(".solution.dropdown")
        assert solutions.count() >= 2
        for i in range(solutions.count()):
            solution = solutions.nth(i)
            body = solution.locator(":scope > :not(.admonition-title)").first
            assert not body.is_visible(), f"solution {i + 1} is visible before a click"
            solution.locator("button.toggle-button").click()
            body.wait_for(state="visible", timeout=5000)
        link = page.locator("a[href$='.ipynb']").first
        href = link.get_attribute("href")
        response = page.request.get(f"{site}/{file.rsplit('/', 1)[0]}/{href}")
        assert response.status == 200
        notebook = json.loads(response.text())
        assert notebook["nbformat"] == 4 and notebook["cells"]
    finally:
        page.close()


def test_search_finds_variance_components(site, browser):
    visit = Visit(browser, f"{site}/search.html?q=variance+components")
    page = visit.page
    try:
        page.wait_for_selector("#search-results li", timeout=15000)
        assert page.locator("#search-results li").count() >= 1
        assert visit.outside_requests(site) == []
        assert visit.console_errors() == []
    finally:
        page.close()


WIDE_OUTPUTS = """() => {
  const article = document.querySelector('.bd-article') || document.querySelector('main');
  const limit = article.getBoundingClientRect().width + 1;
  const found = [];
  for (const el of document.querySelectorAll('.cell pre, .cell_output table, .cell_output img')) {
    const wide = el.tagName === 'PRE' ? el.scrollWidth > el.clientWidth + 1
                                      : el.getBoundingClientRect().width > limit;
    if (wide) found.push(el.tagName + ': ' + (el.innerText || el.src || '').slice(0, 60));
  }
  return found;
}"""


@pytest.mark.parametrize("file", PAGES)
def test_no_code_or_output_is_wider_than_the_text_column(site, browser, file):
    """What a cell shows fits the column: nothing is cut off or has to be scrolled sideways."""
    visit = Visit(browser, f"{site}/{file}.html")
    try:
        assert visit.page.evaluate(WIDE_OUTPUTS) == []
    finally:
        visit.page.close()
