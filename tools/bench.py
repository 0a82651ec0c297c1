"""Print how long the book takes to execute and build.

    python tools/bench.py

1. each notebook's execution time on a fresh kernel (the same runner as the tests);
2. a clean build: the repository copied to a temporary folder with no _build (so the
   execution cache is empty), built as `make book` builds it;
3. a rebuild of that copy with nothing changed (the cache makes it fast).
Targets on a 2-core machine: clean build under 3 minutes, rebuild under 15 s, no notebook
over 60 s. The script prints the figures and says which targets are met; it does not fail.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tools"))

from conftest import run_notebook  # noqa: E402
from student import book_notebooks  # noqa: E402

TARGETS = {"notebook": 60.0, "clean build": 180.0, "rebuild": 15.0}


def _build(folder: Path) -> float:
    jb = Path(sys.executable).parent / "jupyter-book"
    start = time.perf_counter()
    proc = subprocess.run([str(jb), "build", str(folder), "-W", "-n", "--keep-going"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:])
        raise SystemExit(f"the build failed in {folder}")
    return seconds


def main() -> int:
    print("notebook execution on a fresh kernel (s)")
    slowest = 0.0
    for path in book_notebooks():
        start = time.perf_counter()
        run_notebook(path)
        seconds = time.perf_counter() - start
        slowest = max(slowest, seconds)
        print(f"  {path.relative_to(ROOT).as_posix():45s} {seconds:6.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "book"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
            ".venv", "_build", ".git", "__pycache__", ".pytest_cache", ".hypothesis"))
        clean = _build(copy)
        rebuild = _build(copy)
    print(f"\nclean build (empty cache)      {clean:6.1f} s")
    print(f"rebuild with nothing changed   {rebuild:6.1f} s")
    print("\ntargets:")
    for label, value in [("notebook", slowest), ("clean build", clean), ("rebuild", rebuild)]:
        verdict = "met" if value < TARGETS[label] else "MISSED"
        print(f"  {label:12s} {value:6.1f} s  (target < {TARGETS[label]:.0f} s)  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
