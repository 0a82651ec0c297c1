"""The repository stays clean: table of contents, notebooks, paths and codebook agree."""
from __future__ import annotations

import json
import re
import subprocess

from conftest import CHAPTERS, ROOT, toc_files


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).exists()]


def test_toc_and_chapters_folder_list_the_same_notebooks():
    in_toc = {f for f in toc_files() if f.startswith("chapters/")}
    on_disk = {f"chapters/{p.stem}" for p in CHAPTERS.glob("*.ipynb")}
    assert in_toc == on_disk
    for f in toc_files():
        assert (ROOT / f).with_suffix(".md").exists() or (ROOT / f).with_suffix(".ipynb").exists(), f


def test_notebooks_are_committed_without_outputs():
    dirty = []
    for path in CHAPTERS.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
                dirty.append(path.name)
                break
    assert dirty == [], "clear outputs before committing: " + ", ".join(dirty)


ABSOLUTE = re.compile(r"(?<![\w.])(/home/|/Users/|/work/|/root/|/tmp/|[A-Z]:\\\\)")


def test_no_absolute_paths():
    suffixes = {".py", ".ipynb", ".md", ".yml", ".yaml", ".toml", ".R", ".txt", ".cfg"}
    offenders = []
    for f in tracked_files():
        path = ROOT / f
        if path.suffix in suffixes and f != "tests/test_hygiene.py":
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if ABSOLUTE.search(line):
                    offenders.append(f"{f}:{n}: {line.strip()[:80]}")
    assert offenders == []


def test_every_data_file_is_in_the_codebook():
    data = ROOT / "data"
    missing = []
    for path in sorted(data.rglob("*")):
        if path.is_dir() or path.name == "README.md":
            continue
        # the nearest README.md above the file documents it, by name or by its folder
        folder = path.parent
        while not (folder / "README.md").exists():
            folder = folder.parent
        codebook = (folder / "README.md").read_text()
        rel = path.relative_to(folder).as_posix()
        # a file may also be documented by its stem, as a case in a table: `crossed`
        stem = f"`{path.name.split('.')[0]}`"
        if rel not in codebook and path.name not in codebook and stem not in codebook:
            missing.append(path.relative_to(ROOT).as_posix())
    assert missing == [], "describe these files in a data README: " + ", ".join(missing)


def test_every_registered_data_set_is_in_the_codebook():
    import helpers

    codebook = (ROOT / "data" / "README.md").read_text()
    for name, row in helpers.datasets().iterrows():
        assert f"(name `{name}`)" in codebook, name


def test_requirements_are_pinned_exactly():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and line != "-e .":
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+\-]+", line), line
    assert "jupyter-book==1.0.4.post1" in (ROOT / "requirements.txt").read_text()
