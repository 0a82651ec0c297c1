"""Check that this computer is ready for the book's notebooks.

    python -m helpers.check_setup

Checks the Python version, that every package the notebooks need (the pins in
requirements-student.txt) is installed at its pinned version, that the data files are in
place, and that a small mixed model fits. Prints either that all is ready or, for each
problem, what to do; exits 1 on a problem.

``MIN_PYTHON`` is the floor that pyproject.toml's ``requires-python`` states (a test keeps
the two equal): the oldest Python for which every pinned package has a release.
"""
from __future__ import annotations

import re
import sys
import warnings
from importlib import metadata
from pathlib import Path

from .core.data import DATA_DIR, _REGISTRY

MIN_PYTHON = (3, 11, 5)
REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements-student.txt"
FIX_PACKAGES = ("run 'make venv' in the book's folder, or "
                "'pip install -r requirements-student.txt' in the student folder")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+).*", line)
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def check_python(version=None) -> list[str]:
    version = tuple(version or sys.version_info[:3])
    if version < MIN_PYTHON:
        have = ".".join(map(str, version))
        need = ".".join(map(str, MIN_PYTHON))
        return [f"Python {have} is too old for the pinned packages: install Python {need} "
                "or newer and create the environment again"]
    return []


def check_packages(requirements: Path = REQUIREMENTS) -> list[str]:
    if not requirements.exists():
        return [f"{requirements} is missing: restore it from the book's repository"]
    problems = []
    for name, wanted in _pins(requirements).items():
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"package {name} is not installed (needs {name}=={wanted}): {FIX_PACKAGES}")
            continue
        if found != wanted:
            problems.append(f"package {name} is {found}, the book pins {wanted}: {FIX_PACKAGES}")
    return problems


def check_data(data_dir: Path | None = None) -> list[str]:
    data_dir = Path(data_dir or DATA_DIR)
    return [f"data file {data_dir / file} is missing: restore the data/ folder from the book's "
            f"repository or the student zip (data set {name!r})"
            for name, (file, _) in sorted(_REGISTRY.items()) if not (data_dir / file).exists()]


def check_fit() -> list[str]:
    try:
        from . import load, mixedlm

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the seed data's fit is on the boundary by design
            fit = mixedlm("dependent_var ~ C(Condition_1) * C(Condition_2) + (1 | participant_ID)",
                          load("seed_toy")).fit()
    except Exception as err:  # report whatever broke, with its type
        return [f"a test model could not be fitted ({type(err).__name__}: {err}); "
                f"check the messages above, then {FIX_PACKAGES}"]
    if not (fit.converged and abs(fit.scale - 0.0531) < 5e-4):
        return ["a test model fitted, but not to the expected estimate: the installed "
                f"statsmodels may differ from the pinned one; {FIX_PACKAGES}"]
    return []


def run(out=print) -> int:
    """Run every check, print the result, return the exit code (0 ready, 1 problems)."""
    checks = [("Python version", check_python), ("pinned packages", check_packages),
              ("data files", check_data)]
    problems: list[str] = []
    for label, check in checks:
        found = check()
        out(f"{'ok ' if not found else 'FIX'}  {label}")
        problems += found
    if not any("package" in p for p in problems):
        found = check_fit()
        out(f"{'ok ' if not found else 'FIX'}  a quick model fit")
        problems += found
    if problems:
        out("\nNot ready yet. What to do:")
        for p in problems:
            out(f"  - {p}")
        return 1
    out("\nAll is ready: open the notebooks (make lab, or jupyter lab chapters/).")
    return 0


if __name__ == "__main__":
    sys.exit(run())
