import numpy as np
import pandas as pd
import pytest

import helpers


def test_seed_design_is_within_and_between(seed_toy):
    d = helpers.describe_design(seed_toy, "participant_ID", ["Condition_1", "Condition_2"])
    assert d.loc["Condition_1", "design"] == "within"
    assert d.loc["Condition_2", "design"] == "between"
    assert bool(d.loc["Condition_1", "complete"])
    assert d.loc["Condition_1", "crossed_with"] == "Condition_2"
    assert d.loc["Condition_2", "levels_per_subject"] == "1"
    assert d.loc["Condition_2", "subjects_per_level"] == "4"


def test_declared_design_that_matches_passes(seed_toy):
    d = helpers.describe_design(seed_toy, "participant_ID",
                                {"Condition_1": "within", "Condition_2": "between"})
    assert list(d.index) == ["Condition_1", "Condition_2"]


def test_subject_in_two_levels_of_a_between_factor_is_named(seed_toy):
    bad = seed_toy.copy()
    bad.loc[bad.index[bad["participant_ID"] == 27][0], "Condition_2"] = 1
    with pytest.raises(ValueError, match=r"subject 27 appears in levels \[1, 2\] of 'Condition_2'"):
        helpers.describe_design(bad, "participant_ID",
                                {"Condition_1": "within", "Condition_2": "between"})
    # undeclared, the same data are reported as an incomplete within factor
    d = helpers.describe_design(bad, "participant_ID", ["Condition_2"])
    assert d.loc["Condition_2", "design"] == "within"
    assert not d.loc["Condition_2", "complete"]


def test_calling_a_within_factor_nested_is_refused(seed_toy):
    with pytest.raises(ValueError, match="level 1 of 'Condition_1' is shared"):
        helpers.describe_design(seed_toy, "participant_ID", {"Condition_1": "nested"})


def test_nested_and_crossed_factors():
    # classes 1-3 inside each school, labels unique to the school; items crossed with pupils
    rows = []
    for school in range(4):
        for cls in range(3):
            for pupil in range(2):
                for item in range(5):
                    rows.append({"school": school, "cls": f"s{school}c{cls}",
                                 "pupil": f"s{school}c{cls}p{pupil}", "item": item,
                                 "sector": "public" if school < 2 else "private"})
    df = pd.DataFrame(rows)
    d = helpers.describe_design(df, "school", ["cls", "pupil", "item", "sector"])
    assert d.loc["cls", "design"] == "nested"
    assert d.loc["sector", "design"] == "between"
    assert d.loc["item", "design"] == "within"
    assert d.loc["pupil", "nested_in"] == "cls, sector"
    assert d.loc["item", "crossed_with"] == "cls, pupil, sector"


def test_incomplete_within_factor_is_flagged():
    df = pd.DataFrame({"s": [1, 1, 1, 2, 2, 3, 3, 3], "t": [1, 2, 3, 1, 2, 1, 2, 3]})
    d = helpers.describe_design(df, "s", ["t"])
    assert d.loc["t", "design"] == "within"
    assert not d.loc["t", "complete"]
    assert d.loc["t", "levels_per_subject"] == "2-3"


def test_missing_column_is_a_key_error_naming_it(seed_toy):
    with pytest.raises(KeyError, match="Condition_3"):
        helpers.describe_design(seed_toy, "participant_ID", ["Condition_3"])
    with pytest.raises(KeyError, match="subject_id"):
        helpers.describe_design(seed_toy, "subject_id", ["Condition_1"])


def test_missing_values_are_not_dropped_silently(seed_toy):
    bad = seed_toy.copy()
    bad.loc[3, "Condition_1"] = np.nan
    with pytest.raises(ValueError, match=r"column 'Condition_1' of df has 1 missing value"):
        helpers.describe_design(bad, "participant_ID", ["Condition_1"])


@pytest.mark.parametrize(
    "factors, message",
    [
        ([], "factors is empty"),
        (["participant_ID"], "also listed as a factor"),
        ({"Condition_1": "repeated"}, "declared design 'repeated'"),
    ],
)
def test_bad_arguments(seed_toy, factors, message):
    with pytest.raises(ValueError, match=message):
        helpers.describe_design(seed_toy, "participant_ID", factors)


def test_not_a_dataframe():
    with pytest.raises(ValueError, match="must be a pandas DataFrame"):
        helpers.describe_design([[1, 2]], "s", ["t"])
