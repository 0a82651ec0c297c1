"""The examples in the helpers' docstrings run and print what they say; every module says what it holds."""
import doctest
import importlib
import pkgutil
import warnings

import pytest

import helpers

MODULES = sorted(m.name for m in pkgutil.walk_packages(helpers.__path__, prefix="helpers."))


def test_the_layout_separates_the_library_from_the_chapters_study_code():
    assert {"helpers.core", "helpers.studies"} <= set(MODULES)
    # the library never depends on the chapters' study code
    for name in MODULES:
        if name.startswith("helpers.core."):
            source = importlib.import_module(name).__file__
            text = open(source, encoding="utf-8").read()
            assert "from ..studies" not in text and "helpers.studies" not in text, name


@pytest.mark.parametrize("name", MODULES)
def test_every_module_has_a_docstring(name):
    doc = importlib.import_module(name).__doc__
    assert doc and len(doc.strip()) > 20, f"{name} needs a module docstring saying what it holds"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the examples' fits may warn; the tests elsewhere check warnings
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
