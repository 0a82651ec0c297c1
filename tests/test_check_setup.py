"""python -m helpers.check_setup: ready on a healthy environment, precise when something is missing."""
import subprocess
import sys
from importlib import metadata

from helpers import check_setup


def test_healthy_environment_is_ready():
    proc = subprocess.run([sys.executable, "-m", "helpers.check_setup"], capture_output=True,
                          text=True, cwd=check_setup.REQUIREMENTS.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All is ready" in proc.stdout


def test_a_missing_package_is_named_with_the_fix(monkeypatch):
    real = metadata.version

    def fake(name):
        if name == "pingouin":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(check_setup.metadata, "version", fake)
    lines = []
    assert check_setup.run(out=lines.append) == 1
    text = "\n".join(lines)
    assert "package pingouin is not installed (needs pingouin==0.7.0)" in text
    assert "pip install -r requirements-student.txt" in text
    assert "All is ready" not in text


def test_a_wrong_version_is_named(monkeypatch):
    real = metadata.version
    monkeypatch.setattr(check_setup.metadata, "version",
                        lambda name: "0.1" if name == "statsmodels" else real(name))
    problems = check_setup.check_packages()
    assert problems == [f"package statsmodels is 0.1, the book pins 0.15.0: {check_setup.FIX_PACKAGES}"]


def test_a_missing_data_file_is_named(monkeypatch, tmp_path):
    (tmp_path / "seed_toy.csv").write_text("x\n1\n")
    problems = check_setup.check_data(tmp_path)
    assert any("sleepstudy.csv is missing" in p for p in problems)
    assert not any("seed_toy.csv" in p for p in problems)
    monkeypatch.setattr(check_setup, "DATA_DIR", tmp_path)
    lines = []
    assert check_setup.run(out=lines.append) == 1
    assert any("data set 'penicillin'" in line for line in lines)


def test_old_python_is_refused():
    assert "too old" in check_setup.check_python((3, 10, 12))[0]
    # 3.11.0 to 3.11.4 too: a pinned package needs 3.11.5 (see tests/test_install.py)
    assert "install Python 3.11.5 or newer" in check_setup.check_python((3, 11, 4))[0]
    assert check_setup.check_python((3, 11, 5)) == []
    assert check_setup.check_python((3, 13, 0)) == []


def test_the_checked_pins_are_what_the_notebooks_need():
    assert check_setup.REQUIREMENTS.name == "requirements-student.txt"
    pins = check_setup._pins(check_setup.REQUIREMENTS)
    assert {"numpy", "pandas", "statsmodels", "pingouin", "jupyterlab"} <= set(pins)
    assert not {"jupyter-book", "Sphinx", "playwright", "pytest"} & set(pins)


def test_the_set_up_check_runs_before_the_scientific_stack_is_importable():
    """`python -m helpers.check_setup` must be able to say what is missing, so neither it
    nor `import helpers` may import numpy, pandas or statsmodels at start-up."""
    import subprocess
    import sys

    code = ("import sys, helpers, helpers.check_setup\n"
            "heavy = {'numpy', 'pandas', 'scipy', 'statsmodels'} & set(sys.modules)\n"
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
