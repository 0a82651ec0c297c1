"""The examples in the helpers' docstrings run and print what they say."""
import doctest
import importlib
import pkgutil
import warnings

import pytest

import helpers

MODULES = sorted(m.name for m in pkgutil.iter_modules(helpers.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"helpers.{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the examples' fits may warn; the tests elsewhere check warnings
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in helpers.{name}"
