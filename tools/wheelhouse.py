"""Download every wheel the student notebooks need, for laptops that cannot install online.

    python tools/wheelhouse.py [OUTDIR] [--target NAME ...]     # default: _build/wheelhouse
    make wheelhouse

A teacher runs this before a workshop, on any computer with the internet. For each target
(an operating system and a supported Python) it runs

    pip download --only-binary=:all: --implementation cp --python-version X.Y \\
        --platform TAG [--platform TAG ...] -d OUTDIR/<target> -r <the student pins>

so each folder holds binary wheels only (nothing to compile on a participant's laptop),
for that system and that Python, plus setuptools to install the ``helpers`` package from
the student folder. Copy the folder that matches a participant's laptop onto a USB stick;
they install without the internet, in the student folder:

    python -m venv .venv
    .venv/bin/pip install --no-index --find-links <wheelhouse folder> -r requirements-student.txt

(on Windows ``.venv\\Scripts\\pip``). Targets are named ``<system>-py<X.Y>``, for example
``linux-x86_64-py3.12``, ``macos-arm64-py3.13`` or ``windows-amd64-py3.11``; ``--target``
picks some (``--target windows-amd64`` takes every Python for that system). The wheels are
never committed: OUTDIR is under ``_build/`` by default.

The supported Pythons start at the floor in ``pyproject.toml`` (``requires-python``) and end
at ``NEWEST_PYTHON`` below, the newest one every pin has wheels for.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUDENT_REQUIREMENTS = ROOT / "requirements-student.txt"
NEWEST_PYTHON = (3, 14)
# The build backend that installs the helpers package (pyproject's [build-system]).
BUILD_REQUIREMENTS = ["setuptools>=77"]


def _manylinux(arch: str) -> list[str]:
    # pip does not widen manylinux_2_NN tags by itself: name every glibc a wheel may target
    return [f"manylinux_2_{minor}_{arch}" for minor in range(28, 16, -1)] + [
        f"manylinux2014_{arch}"]


# system -> the platform tags pip may accept for it: 64-bit Intel/AMD Linux with glibc 2.28
# or newer (every major distribution since 2019), Apple-silicon Macs on macOS 12 or newer
# (pip widens a macosx tag to the older macOS versions by itself), 64-bit Windows.
# Intel Macs are not a target: argon2-cffi-bindings 26.2.0 (JupyterLab's server needs it)
# has no wheel for them, so pip builds it from source there, which needs a compiler
# (`xcode-select --install`) and the internet.
PLATFORMS: dict[str, list[str]] = {
    "linux-x86_64": _manylinux("x86_64"),
    "macos-arm64": ["macosx_12_0_arm64"],
    "windows-amd64": ["win_amd64"],
}


def python_floor(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The lowest supported Python, as ``requires-python`` in pyproject.toml states it."""
    text = pyproject.read_text()
    match = re.search(r'^requires-python\s*=\s*">=\s*([0-9.]+)"', text, re.M)
    if not match:
        raise ValueError(f"{pyproject} has no requires-python = \">=X.Y\" line; add one")
    return match.group(1)


def supported_pythons() -> list[str]:
    """The floor (with its patch level, if it names one), then every newer minor version."""
    floor = python_floor()
    major, minor = (int(part) for part in floor.split(".")[:2])
    return [floor] + [f"{major}.{m}" for m in range(minor + 1, NEWEST_PYTHON[1] + 1)]


def targets() -> dict[str, tuple[list[str], str]]:
    """Every target name -> (platform tags, Python version)."""
    return {f"{system}-py{'.'.join(version.split('.')[:2])}": (tags, version)
            for system, tags in PLATFORMS.items() for version in supported_pythons()}


def pinned_requirements(path: Path = STUDENT_REQUIREMENTS) -> list[str]:
    """The ``name==version`` lines of a requirements file (no comments, no local ``-e .``)."""
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "-", "."))]


def pip_command(target: str, dest: Path, requirements: Path, *, dry_run: bool = False,
                python: str = sys.executable) -> list[str]:
    """The pip command that fetches (or, with ``dry_run``, only resolves) one target."""
    tags, version = targets()[target]
    cmd = [python, "-m", "pip"]
    if dry_run:
        cmd += ["install", "--dry-run", "--ignore-installed", "--target", str(dest)]
    else:
        cmd += ["download", "--dest", str(dest)]
    cmd += ["--only-binary=:all:", "--implementation", "cp", "--python-version", version]
    for tag in tags:
        cmd += ["--platform", tag]
    return cmd + ["--quiet", "-r", str(requirements)]


def write_pins(folder: Path) -> Path:
    """The student pins plus the build backend, as a requirements file pip can read."""
    path = folder / "wheelhouse-requirements.txt"
    path.write_text("\n".join(pinned_requirements() + BUILD_REQUIREMENTS) + "\n")
    return path


def download(outdir: Path, chosen: list[str]) -> list[str]:
    """Fill ``outdir/<target>`` for each chosen target; return the targets that failed."""
    outdir.mkdir(parents=True, exist_ok=True)
    pins = write_pins(outdir)
    failed = []
    for target in chosen:
        dest = outdir / target
        print(f"{target}: downloading into {dest}", flush=True)
        proc = subprocess.run(pip_command(target, dest, pins))
        if proc.returncode != 0:
            failed.append(target)
    return failed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", nargs="?", default=str(ROOT / "_build" / "wheelhouse"))
    parser.add_argument("--target", action="append", default=[],
                        help="a target or a system (default: all); repeat for several")
    args = parser.parse_args(argv)
    known = targets()
    chosen = [t for t in known if not args.target
              or any(t == want or t.startswith(want + "-py") for want in args.target)]
    if not chosen:
        parser.error(f"no target matches {args.target}; known targets: {', '.join(known)}")
    outdir = Path(args.outdir)
    failed = download(outdir, chosen)
    print()
    for target in chosen:
        status = "FAILED" if target in failed else "ok"
        print(f"{status:6s} {target}: pip install --no-index --find-links "
              f"{outdir / target} -r requirements-student.txt")
    if failed:
        print(f"\n{len(failed)} target(s) failed: pip's message above names the package "
              "without a wheel for that system or Python. Leave those laptops to the online "
              "install, or pin a version of that package with wheels for them.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
