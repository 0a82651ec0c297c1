import numpy as np
import pytest

import helpers


def test_spaghetti_has_one_line_per_subject_plus_means(seed_toy):
    fig = helpers.spaghetti_plot(seed_toy, "participant_ID", "Condition_1", "dependent_var",
                                 panel="Condition_2", ylabel="score (units)")
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.lines) == 4 + 1  # four participants and the mean line
        assert ax.get_xlabel() == "Condition_1"
    assert fig.axes[0].get_ylabel() == "score (units)"
    mean_line = fig.axes[1].lines[-1]
    expected = seed_toy[seed_toy.Condition_2 == 2].groupby("Condition_1")["dependent_var"].mean()
    np.testing.assert_allclose(mean_line.get_ydata(), expected.to_numpy())


def test_interaction_plot_draws_cell_means(seed_toy):
    ax = helpers.interaction_plot(seed_toy, "Condition_1", "Condition_2", "dependent_var")
    assert ax.get_ylabel() == "mean dependent_var (95% CI)"
    assert len(ax.containers) == 2  # one error-bar line per level of Condition_2
    drawn = np.concatenate([np.asarray(c.lines[0].get_ydata(), dtype=float)
                            for c in ax.containers])
    cells = seed_toy.groupby(["Condition_2", "Condition_1"])["dependent_var"].mean()
    np.testing.assert_allclose(drawn, cells.to_numpy())


def test_plots_name_missing_columns(seed_toy):
    with pytest.raises(KeyError, match="score"):
        helpers.spaghetti_plot(seed_toy, "participant_ID", "Condition_1", "score")
    with pytest.raises(KeyError, match="cond"):
        helpers.interaction_plot(seed_toy, "cond", "Condition_2", "dependent_var")
