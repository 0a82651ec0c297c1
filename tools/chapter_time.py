"""How long a chapter takes a learner: an estimate from its words, code cells and exercises.

    python tools/chapter_time.py        # prints the estimate for every chapter

The rule (stated in the workshop guide, and what each chapter's "Time" line must agree with):

* prose is read at 120 words a minute (technical text with formulas read slower than a novel);
* every code cell a learner sees costs 1 minute (read it, run it, look at its output);
* every exercise costs 8 minutes (try it, then compare with the solution).

Cells tagged ``solution`` or ``remove-cell`` and code inside Markdown fences are not counted,
and the total is rounded to the nearest 5 minutes.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_MINUTE = 120
MINUTES_PER_CODE_CELL = 1.0
MINUTES_PER_EXERCISE = 8.0
STATED = re.compile(r"\*\*Time:\*\*\s*about\s+(\d+)\s+minutes")


def _counted(cell) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return "solution" not in tags and "remove-cell" not in tags


def estimate_minutes(path: Path) -> int:
    """The estimated minutes for the notebook at ``path``, rounded to the nearest 5."""
    cells = [c for c in json.loads(Path(path).read_text())["cells"] if _counted(c)]
    words = exercises = code = 0
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            exercises += text.count("{exercise}")
            prose = re.sub(r"```.*?```", " ", text, flags=re.S)
            words += len(prose.split())
        elif cell["cell_type"] == "code":
            code += 1
    minutes = (words / WORDS_PER_MINUTE + code * MINUTES_PER_CODE_CELL
               + exercises * MINUTES_PER_EXERCISE)
    return int(5 * round(minutes / 5))


def stated_minutes(path: Path) -> int | None:
    """The minutes the chapter's opening box states (``**Time:** about N minutes``)."""
    first = json.loads(Path(path).read_text())["cells"][0]
    match = STATED.search("".join(first["source"]))
    return int(match.group(1)) if match else None


if __name__ == "__main__":
    for nb in sorted((ROOT / "chapters").glob("*.ipynb")):
        print(f"{nb.stem:40s} estimated {estimate_minutes(nb):4d} min, "
              f"stated {stated_minutes(nb)} min")
    sys.exit(0)
