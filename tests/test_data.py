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
