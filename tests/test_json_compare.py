"""tests/r/json_compare.py: what the reference check fails on, and what it only reports."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("json_compare", ROOT / "tests/r/json_compare.py")
json_compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(json_compare)


def _tree(folder: Path, files: dict) -> Path:
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
    return folder


def _compare(tmp_path, expected: dict, actual: dict):
    return json_compare.compare_trees(
        _tree(tmp_path / "expected", expected), _tree(tmp_path / "actual", actual)
    )


def test_numbers_beyond_the_tolerance_fail(tmp_path):
    out, _ = _compare(tmp_path, {"case.json": {"logLik": -100.0}},
                      {"case.json": {"logLik": -100.001}})
    assert out == ["case.json.logLik: expected -100.0, got -100.001 (abs diff 0.001)"]
    out, _ = _compare(tmp_path, {"case.json": {"logLik": -100.0}},
                      {"case.json": {"logLik": -100.00000001}})
    assert out == []


def test_loose_files_take_a_looser_tolerance(tmp_path):
    expected = {"glmer/a.json": {"x": 1.0}, "b.json": {"x": 1.0}}
    actual = {"glmer/a.json": {"x": 1.001}, "b.json": {"x": 1.001}}
    out, _ = _compare(tmp_path, expected, actual)
    assert out == ["b.json.x: expected 1.0, got 1.001 (abs diff 0.001)"]


def test_convergence_warnings_are_soft_only_in_loose_files(tmp_path):
    warned = {"tight": {"warnings": ["Model failed to converge"], "logLik": -1.0}}
    quiet = {"tight": {"warnings": [], "logLik": -1.0}}
    out, soft = _compare(tmp_path, {"glmer/a.json": quiet, "b.json": quiet},
                         {"glmer/a.json": warned, "b.json": warned})
    assert out == ["b.json.tight.warnings: expected 0 elements, got 1"]
    assert soft == ["glmer/a.json.tight.warnings: expected [], got ['Model failed to converge']"]


def test_timings_and_versions_are_reported_not_failed(tmp_path):
    out, soft = _compare(tmp_path, {"a.json": {"seconds": 1.0, "versions": {"R": "4.2"}}},
                         {"a.json": {"seconds": 2.0, "versions": {"R": "4.3"}}})
    assert out == [] and len(soft) == 2


def test_missing_and_new_files_fail(tmp_path):
    out, _ = _compare(tmp_path, {"a.json": {}}, {"b.json": {}})
    assert out == ["a.json: missing from the regenerated output",
                   "b.json: new file, not in the committed reference"]
