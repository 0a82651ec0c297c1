"""Write the student notebooks: every solution removed, exercise prompts kept.

    python tools/student.py [OUTDIR]      # default: _build/student

For each notebook in the book (the chapters and the appendix notebooks), the cells tagged
``solution`` are dropped, the exercise directives become plain Markdown that Jupyter
renders, outputs are cleared, and a first cell says where the solutions are. The folder
gets what the notebooks need to run on a participant's laptop (the helpers package, the
data, and requirements-student.txt: only the packages the notebooks need, not the ones that
build and test the book), and a zip of it all: OUTDIR/mixed-models-student.zip.
"""
from __future__ import annotations

import re
import shutil
import sys
import zipfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wheelhouse import python_floor  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NAME = "mixed-models-student"
SUPPORT = ["helpers", "data", "requirements-student.txt", "pyproject.toml", "LICENSE",
           "LICENSE-TEXT.md"]

EXERCISE = re.compile(
    r"```\{exercise\}\s*(?P<title>[^\n]*)\n(?P<options>(?::[^\n]*\n)*)\n?(?P<body>.*?)\n```",
    re.S,
)
NOTE = (
    "**Student version.** The solutions are removed from this notebook; they are in the "
    "book's site, under each exercise. Run the cells in order; each exercise has an empty "
    "cell for your answer."
)


def book_notebooks() -> list[Path]:
    return sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "appendix").glob("*.ipynb"))


def _plain_exercise(match: re.Match) -> str:
    title = match.group("title").strip()
    return f"### Exercise: {title}\n\n{match.group('body').strip()}" if title else (
        f"### Exercise\n\n{match.group('body').strip()}")


def student_version(nb):
    """Return a copy of ``nb`` without solutions, with plain-Markdown exercises and no outputs."""
    out = nbformat.v4.new_notebook(metadata=nb.metadata)
    out.cells.append(nbformat.v4.new_markdown_cell(NOTE))
    out.cells[0]["id"] = "student-note"
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "solution" in tags:
            continue
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "markdown":
            cell.source = EXERCISE.sub(_plain_exercise, cell.source)
        else:
            cell.outputs, cell.execution_count = [], None
            if "exercise" in tags:
                cell.metadata["tags"] = sorted(tags - {"remove-cell"})
        out.cells.append(cell)
    return out


def student_readme() -> str:
    """The README of the student folder: how to install, check and start."""
    return (
        "# Mixed Models in Python: student notebooks\n\n"
        f"Set up once, in this folder (Python {python_floor()} or newer):\n\n"
        "```bash\npython3 -m venv .venv\n"
        ".venv/bin/pip install -r requirements-student.txt\n"
        ".venv/bin/python -m helpers.check_setup\n.venv/bin/jupyter lab\n```\n\n"
        "On Windows use `py -m venv .venv` and `.venv\\Scripts\\` instead of `.venv/bin/`. "
        "Without the internet, install from the wheel folder your teacher hands out for your "
        "system and Python instead:\n\n"
        "```bash\n.venv/bin/pip install --no-index --find-links PATH/TO/WHEELS "
        "-r requirements-student.txt\n```\n\n"
        "The notebooks are in `chapters/`; the data they load are in `data/`. Nothing needs "
        "the internet once the packages are installed.\n"
    )


def write_student(outdir: Path) -> Path:
    """Write the student folder and zip into ``outdir``; return the zip's path."""
    folder = outdir / NAME
    if folder.exists():
        shutil.rmtree(folder)
    for nb_path in book_notebooks():
        target = folder / nb_path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student_version(nbformat.read(nb_path, as_version=4)), target)
    for name in SUPPORT:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, folder / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "cases"))
        else:
            shutil.copy2(src, folder / name)
    (folder / "README.md").write_text(student_readme())
    archive = outdir / f"{NAME}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(outdir))
    return archive


def main(argv: list[str]) -> int:
    outdir = Path(argv[0]) if argv else ROOT / "_build" / "student"
    outdir.mkdir(parents=True, exist_ok=True)
    archive = write_student(outdir)
    count = len(book_notebooks())
    print(f"{count} student notebooks in {outdir / NAME}; zip: {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
