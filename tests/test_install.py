"""Installing the book: the Python floor, the student pins, the helpers package, the wheels.

* The Python floor is stated once, as ``requires-python`` in pyproject.toml; every other
  place that names it (README, intro, workshop guide, the student README, check_setup) is
  checked against it, and the pinned requirements resolve on exactly that Python.
* requirements-student.txt holds only what the notebooks need, each pin equal to the one in
  requirements.txt, and nothing a notebook imports is left unpinned.
* ``pip install path/to/book`` builds a wheel with both subpackages (helpers.core and
  helpers.studies) and the dependencies the package really imports.
* The student pins resolve to binary wheels for every system and Python the offline
  wheelhouse serves (tools/wheelhouse.py); tests/test_student.py installs one for real.

The tests marked ``slow`` ask PyPI (through pip, as configured on the machine).
"""
from __future__ import annotations

import ast
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import student  # noqa: E402
import wheelhouse  # noqa: E402
from helpers import check_setup  # noqa: E402

FLOOR = wheelhouse.python_floor()
MAIN = ROOT / "requirements.txt"
STUDENT = ROOT / "requirements-student.txt"
# Packages that build, test or serve the book, which a learner never needs.
BOOK_ONLY = {"jupyter-book", "sphinx", "playwright", "pytest", "hypothesis", "myst-nb",
             "jupyter-cache", "sphinx-book-theme", "sqlalchemy"}
# Small packages that pip adds on one system only; they are not in requirements.txt
# (which is resolved on Linux), so they are left to pip there.
PLATFORM_ONLY = {"appnope", "colorama", "pywinpty"}
# "Python 3.11.5 or newer", "Python 3.12", ...: any Python version the prose names
FLOOR_STATED = re.compile(r"Python\s+(3\.\d+(?:\.\d+)?)\b")


def _pins(path: Path) -> dict[str, str]:
    """canonical name -> pinned version, from the ``name==version`` lines of ``path``."""
    pins = {}
    for line in wheelhouse.pinned_requirements(path):
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: {line!r} is not pinned with =="
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def _without_local(path: Path, folder: Path) -> Path:
    """A copy of a requirements file without the local ``-e .`` line, for pip --target."""
    out = folder / path.name
    out.write_text("\n".join(wheelhouse.pinned_requirements(path)) + "\n")
    return out


def _pyproject_dependencies() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.M | re.S).group(1)
    return re.findall(r'"([^"]+)"', block)


# --------------------------------------------------------------------------- the floor

def test_the_python_floor_is_stated_everywhere_as_pyproject_says():
    assert re.fullmatch(r"3\.\d+(\.\d+)?", FLOOR)
    assert check_setup.MIN_PYTHON == tuple(int(p) for p in FLOOR.split("."))
    for name in ["README.md", "intro.md", "appendix/workshop.md"]:
        stated = FLOOR_STATED.findall((ROOT / name).read_text())
        assert f"Python {FLOOR} or newer" in " ".join((ROOT / name).read_text().split()), (
            f"{name} should say 'Python {FLOOR} or newer'")
        assert set(stated) == {FLOOR}, (
            f"{name} states the Python floor as {stated}; pyproject.toml's requires-python "
            f"says {FLOOR}: change the text (never the other way round)")
    assert f"Python {FLOOR} or newer" in student.student_readme()


def test_the_floor_is_what_the_pins_require():
    """The floor is the highest Requires-Python among the pinned packages: not lower (the
    install fails), not higher (a Python that works is turned away)."""
    floors = {}
    for name, version in _pins(MAIN).items():
        dist = metadata.distribution(name)
        assert dist.version == version, f"{name} {dist.version} is installed, pinned {version}"
        spec = SpecifierSet(dist.metadata.get("Requires-Python") or "")
        floors[name] = max((Version(s.version) for s in spec if s.operator == ">="),
                           default=Version("3"))
    highest = max(floors.values())
    assert highest == Version(FLOOR), (
        f"the pins need Python {highest} ({[n for n, v in floors.items() if v == highest]}); "
        f"set requires-python = \">={highest}\" in pyproject.toml")


@pytest.mark.slow
def test_the_pinned_requirements_resolve_on_the_floor(tmp_path):
    pins = _without_local(MAIN, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--python-version", FLOOR, "--only-binary=:all:", "--target", str(tmp_path / "t"),
         "-r", str(pins)], capture_output=True, text=True, timeout=600)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert proc.returncode == 0, "\n".join(errors) or proc.stderr[-3000:]


# --------------------------------------------------------------------------- student pins

def test_student_pins_are_the_main_pins_without_the_book_tools():
    main, learner = _pins(MAIN), _pins(STUDENT)
    differ = {n: (v, main.get(n)) for n, v in learner.items() if main.get(n) != v}
    assert differ == {}, f"student pin != requirements.txt pin (student, main): {differ}"
    assert not BOOK_ONLY & set(learner), BOOK_ONLY & set(learner)
    assert len(learner) < len(main)
    lines = [line.strip() for line in STUDENT.read_text().splitlines()]
    assert "-e ." in lines, "the student file must install the helpers package (-e .)"


def test_student_pins_hold_everything_the_notebooks_pull_in():
    """Every dependency of a student package (on any supported system and Python) is pinned
    in the student file, so pip never picks a version of its own."""
    learner = _pins(STUDENT)
    roots = [Requirement(d).name for d in _pyproject_dependencies()]
    roots += ["pingouin", "jupyterlab", "ipykernel"]
    envs = [{"python_version": v, "sys_platform": p, "platform_system": s, "os_name": o}
            for v in [".".join(v.split(".")[:2]) for v in wheelhouse.supported_pythons()]
            for p, s, o in [("linux", "Linux", "posix"), ("darwin", "Darwin", "posix"),
                            ("win32", "Windows", "nt")]]
    seen, todo, missing = set(), [(r, "") for r in roots], {}
    while todo:
        name, extra = todo.pop()
        name = canonicalize_name(name)
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        if name not in learner:
            missing.setdefault(name, extra)
            continue
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({**e, "extra": extra})
                                         for e in envs):
                todo += [(req.name, "")] + [(req.name, x) for x in req.extras]
    assert set(missing) <= PLATFORM_ONLY, (
        f"not pinned in requirements-student.txt: {sorted(set(missing) - PLATFORM_ONLY)}; "
        "add each with the version requirements.txt pins")


def _third_party_imports(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(required, optional) top-level module names a module imports; an import is optional
    when it sits in a ``try`` whose handler catches ImportError."""
    optional_nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in {"ImportError",
                                                                "ModuleNotFoundError"}
                for h in node.handlers):
            optional_nodes |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    required, optional = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        tops = {n.split(".")[0] for n in names} - set(sys.stdlib_module_names) - {
            "helpers", "__future__"}
        (optional if id(node) in optional_nodes else required).update(tops)
    return required, optional


def test_helpers_declares_the_packages_it_imports():
    """pyproject's dependencies are what helpers imports (outside try/except ImportError),
    no more and no less."""
    declared = {canonicalize_name(Requirement(d).name) for d in _pyproject_dependencies()}
    dists = metadata.packages_distributions()
    required, optional = set(), set()
    for path in (ROOT / "helpers").rglob("*.py"):
        needs, may = _third_party_imports(ast.parse(path.read_text()))
        required |= {canonicalize_name(d) for top in needs for d in dists.get(top, [top])}
        optional |= {canonicalize_name(d) for top in may for d in dists.get(top, [top])}
    assert required == declared, (
        f"helpers imports {sorted(required)} (and, if installed, {sorted(optional)}); "
        f"pyproject.toml declares {sorted(declared)}: make the two lists agree")


# --------------------------------------------------------------------------- the package

@pytest.mark.slow
def test_pip_install_of_the_book_installs_core_and_studies(tmp_path):
    src = tmp_path / "src"  # build from a copy: setuptools writes build/ into the source
    src.mkdir()
    for name in ["pyproject.toml", "README.md", "LICENSE"]:
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "helpers", src / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                            "-w", str(tmp_path / "dist"), str(src)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "helpers").rglob("*.py")}
    assert sources - names == set(), f"the wheel lacks {sorted(sources - names)}"
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA")))
    meta = meta.decode()
    assert f"Requires-Python: >={FLOOR}" in meta
    requires = {canonicalize_name(Requirement(line.split(":", 1)[1]).name)
                for line in meta.splitlines() if line.startswith("Requires-Dist:")}
    assert requires == {canonicalize_name(Requirement(d).name)
                        for d in _pyproject_dependencies()}

    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps",
                                "--quiet", "--target", str(site), str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    code = ("import helpers, helpers.core, helpers.studies\n"
            "from helpers.core.inference import anova\n"
            "from helpers.core.compare import lrt\n"
            "print(helpers.__file__)")
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert Path(proc.stdout.strip()).is_relative_to(site), proc.stdout


# --------------------------------------------------------------------------- the wheelhouse

def _downloaded_by_test_student() -> str | None:
    """The target tests/test_student.py downloads and installs for real, if any."""
    if sys.platform == "linux" and platform.machine() == "x86_64":
        return f"linux-x86_64-py{sys.version_info.major}.{sys.version_info.minor}"
    return None


def test_the_wheelhouse_serves_every_supported_python_on_three_systems():
    names = wheelhouse.targets()
    systems = {t.rsplit("-py", 1)[0] for t in names}
    assert systems == {"linux-x86_64", "macos-arm64", "windows-amd64"}
    pythons = {t.rsplit("-py", 1)[1] for t in names}
    assert min(pythons, key=Version) == ".".join(FLOOR.split(".")[:2])
    assert len(names) == len(systems) * len(wheelhouse.supported_pythons())
    cmd = wheelhouse.pip_command("windows-amd64-py3.12", Path("w"), STUDENT)
    assert "--only-binary=:all:" in cmd and cmd[cmd.index("--platform") + 1] == "win_amd64"


@pytest.mark.slow
def test_student_pins_resolve_to_wheels_for_every_system_and_python(tmp_path):
    pins = wheelhouse.write_pins(tmp_path)
    chosen = [t for t in wheelhouse.targets() if t != _downloaded_by_test_student()]

    def resolve(target):
        proc = subprocess.run(wheelhouse.pip_command(target, tmp_path / target, pins,
                                                     dry_run=True),
                              capture_output=True, text=True, timeout=900)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
        return target, proc.returncode, errors or [proc.stderr[-500:]]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(resolve, chosen))
    failed = {t: errors for t, rc, errors in results if rc != 0}
    assert failed == {}, f"no binary wheel for some pins: {failed}"


def test_no_wheel_is_committed():
    """The wheelhouse goes to _build/ (ignored by git); wheels never enter the repository."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "*.whl"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert tracked == []
    ignored = subprocess.run(["git", "check-ignore", "-q", "_build/wheelhouse/x.whl"], cwd=ROOT)
    assert ignored.returncode == 0, "_build/ must stay in .gitignore"
