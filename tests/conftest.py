"""Shared fixtures: paths, the chapter list, and running a notebook on a fresh kernel."""
from __future__ import annotations

import json
import signal
from pathlib import Path

import matplotlib
import nbformat
import pytest
import yaml
from nbclient import NotebookClient

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
NOTEBOOK_TIMEOUT = 300  # seconds for a whole notebook; a guard against hangs, not a speed target


def toc_files() -> list[str]:
    """The files the table of contents lists, without suffix, in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def chapter_notebooks() -> list[Path]:
    return sorted(CHAPTERS.glob("*.ipynb"))


class _Deadline:
    def __init__(self, seconds: int, what: str):
        self.seconds, self.what = seconds, what

    def _fire(self, *_):
        raise TimeoutError(f"{self.what} did not finish within {self.seconds} s")

    def __enter__(self):
        self.old = signal.signal(signal.SIGALRM, self._fire)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)


def run_notebook(path: Path, probes: dict[str, str] | None = None):
    """Execute ``path`` top to bottom on a fresh kernel, as a reader would.

    ``probes`` maps names to Python expressions evaluated in the notebook's
    namespace after its last cell; their JSON values come back in a dict, so
    tests assert on the numbers the chapter computed, not on printed text.
    Returns ``(executed_notebook, probe_values)``.
    """
    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    if probes:
        body = ", ".join(f"{json.dumps(k)}: ({v})" for k, v in probes.items())
        code = (
            "import json as _json\n"
            f"print('@@PROBE@@' + _json.dumps({{{body}}}, default=float))"
        )
        nb.cells.append(nbformat.v4.new_code_cell(code))
    client = NotebookClient(
        nb,
        timeout=NOTEBOOK_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    with _Deadline(NOTEBOOK_TIMEOUT, path.name):
        client.execute()
    values = {}
    if probes:
        probe_cell = nb.cells.pop()
        text = "".join(o.get("text", "") for o in probe_cell.outputs if o.output_type == "stream")
        values = json.loads(text.split("@@PROBE@@", 1)[1])
    assert len(nb.cells) == n_cells
    return nb, values


def error_outputs(nb) -> list[str]:
    """Every error output, or traceback printed to a stream, with its cell number."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                found.append(f"cell {i}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and "Traceback (most recent call last)" in out.text:
                found.append(f"cell {i}: traceback printed to {out.name}")
    return found


_executed: dict[str, tuple] = {}


def _all_probes(stem: str) -> dict[str, str]:
    """Probes for one notebook, from ``PROBES`` in test_notebooks.py and test_chapter_*.py."""
    import importlib

    merged: dict[str, str] = {}
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if path.stem == "test_notebooks" or path.stem.startswith("test_chapter_"):
            module = importlib.import_module(path.stem)
            merged.update(getattr(module, "PROBES", {}).get(stem, {}))
    return merged


def executed(stem: str):
    """Run chapter ``stem`` once per test session, with every probe any test module declares.

    A test module declares what it wants to read from a chapter as a module-level
    ``PROBES = {"NN_name": {"label": "python expression", ...}}``; the values come back as
    JSON in the second element of the returned ``(notebook, values)``.
    """
    if stem not in _executed:
        path = CHAPTERS / f"{stem}.ipynb"
        if not path.exists():
            raise FileNotFoundError(f"no chapter notebook {path.name} in chapters/")
        _executed[stem] = run_notebook(path, _all_probes(stem))
    return _executed[stem]


@pytest.fixture(scope="module")
def chapter(request):
    """``(notebook, values)`` of the chapter named by the test module's ``STEM``."""
    return executed(request.module.STEM)


@pytest.fixture(scope="session")
def built_site():
    """Build the book once per session exactly as ``make book`` does; return the process.

    The execution cache in _build/.jupyter_cache makes a build with unchanged notebooks fast.
    """
    import subprocess
    import sys

    jb = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run([str(jb), "build", ".", "-W", "-n", "--keep-going"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="session")
def seed_toy():
    import helpers

    return helpers.load("seed_toy")
