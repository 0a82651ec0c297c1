import numpy as np
import pandas as pd
import pytest

import helpers
from helpers.core.data import DATA_DIR


def test_datasets_lists_every_registered_file():
    table = helpers.datasets()
    assert "seed_toy" in table.index
    for file in table["file"]:
        assert (DATA_DIR.parent / file).exists(), file


def test_seed_toy_is_the_question_data(seed_toy):
    assert seed_toy.shape == (16, 4)
    assert list(seed_toy.columns) == ["participant_ID", "Condition_1", "Condition_2", "dependent_var"]
    assert seed_toy["participant_ID"].nunique() == 8
    assert seed_toy.groupby("participant_ID").size().eq(2).all()
    assert seed_toy["dependent_var"].sum() == pytest.approx(8.5)


def test_load_returns_a_fresh_copy(seed_toy):
    df = helpers.load("seed_toy")
    df.loc[0, "dependent_var"] = -99
    assert helpers.load("seed_toy").loc[0, "dependent_var"] == pytest.approx(0.71)


@pytest.mark.parametrize("name", ["no_such_data", "", None, "SEED_TOY"])
def test_unknown_name_is_named_in_the_error(name):
    with pytest.raises(ValueError, match="unknown data set") as err:
        helpers.load(name)
    assert repr(name) in str(err.value)
    assert "seed_toy" in str(err.value)


def test_missing_file_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr("helpers.core.data.DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="seed_toy"):
        helpers.load("seed_toy")


def test_load_keeps_missing_values(monkeypatch, tmp_path):
    pd.DataFrame({"a": [1.0, None]}).to_csv(tmp_path / "seed_toy.csv", index=False)
    monkeypatch.setattr("helpers.core.data.DATA_DIR", tmp_path)
    assert helpers.load("seed_toy")["a"].isna().sum() == 1


# ---------------------------------------------------------------- fhch2010 (afex)
FHCH_LEVELS = {
    "task": ["naming", "lexdec"],
    "stimulus": ["word", "nonword"],
    "density": ["low", "high"],
    "frequency": ["low", "high"],
    "length": [4, 5, 6],
}


@pytest.fixture(scope="module")
def fhch():
    return helpers.load("fhch2010")


def test_fhch2010_is_listed():
    table = helpers.datasets()
    assert table.loc["fhch2010", "file"] == "data/fhch2010.csv"


def test_fhch2010_shape_and_columns(fhch):
    assert fhch.shape == (13222, 10)
    assert list(fhch.columns) == ["id", "task", "stimulus", "density", "frequency",
                                  "length", "item", "rt", "log_rt", "correct"]
    assert fhch["id"].nunique() == 45
    assert fhch["item"].nunique() == 600
    assert not fhch.isna().any().any()


def test_fhch2010_dtypes_and_levels(fhch):
    for column, levels in FHCH_LEVELS.items():
        assert isinstance(fhch[column].dtype, pd.CategoricalDtype), column
        assert list(fhch[column].cat.categories) == levels, column
        assert not fhch[column].cat.ordered
    for column in ("id", "item"):
        assert pd.api.types.is_string_dtype(fhch[column]), column
    assert pd.api.types.is_float_dtype(fhch["rt"])
    assert pd.api.types.is_float_dtype(fhch["log_rt"])
    assert pd.api.types.is_bool_dtype(fhch["correct"])


def test_fhch2010_values(fhch):
    assert fhch["rt"].between(0.2, 5.0).all()
    assert np.allclose(fhch["log_rt"], np.log(fhch["rt"]), rtol=0, atol=1e-15)
    assert (~fhch["correct"]).sum() == 262
    # errors are only in lexical decision: naming errors were removed upstream
    assert fhch.loc[fhch["task"] == "naming", "correct"].all()
    assert fhch.groupby("task", observed=True)["id"].nunique().to_dict() == {
        "naming": 20, "lexdec": 25}
    assert fhch.groupby("id").size().between(274, 300).all()


def test_fhch2010_design(fhch):
    # task varies between participants; the item properties between items
    assert fhch.groupby("id")["task"].nunique().eq(1).all()
    item_factors = ["stimulus", "density", "frequency", "length"]
    assert fhch.groupby("item")[item_factors].nunique().eq(1).all().all()
    assert fhch.groupby("item")["task"].nunique().eq(2).all()
    items = fhch.drop_duplicates("item")
    cells = items.groupby(["stimulus", "density", "frequency"], observed=True).size()
    assert cells.eq(75).all() and len(cells) == 8
    assert items["length"].value_counts().eq(200).all()


def test_fhch2010_ids_and_items(fhch):
    naming = fhch.loc[fhch["task"] == "naming", "id"]
    assert naming.str.startswith("N").all()
    assert fhch.loc[fhch["task"] == "lexdec", "id"].str.startswith("L").all()
    # every item is a lower-case string: none was read as a missing value
    assert fhch["item"].str.fullmatch("[a-z]+").all()


def test_fhch2010_unknown_level_is_named(monkeypatch, tmp_path):
    bad = helpers.load("fhch2010").head(3).astype({"task": str})
    bad.loc[0, "task"] = "reading"
    bad.to_csv(tmp_path / "fhch2010.csv", index=False)
    monkeypatch.setattr("helpers.core.data.DATA_DIR", tmp_path)
    with pytest.raises(ValueError, match="'task'.*reading"):
        helpers.load("fhch2010")
