"""The headline numbers of chapters 1-3, computed by the project's code (not read from text)."""
import numpy as np
import pingouin as pg
import pytest
import statsmodels.formula.api as smf

import helpers

ASKER = "dependent_var ~ C(Condition_1) + C(Condition_2) + C(Condition_1):C(Condition_2)"


def test_pingouin_mixed_anova_on_its_bundled_data():
    d = pg.read_dataset("mixed_anova")
    aov = pg.mixed_anova(d, dv="Scores", within="Time", between="Group", subject="Subject")
    assert aov.set_index("Source")["F"].round(3).to_dict() == {
        "Group": 5.052, "Time": 4.027, "Interaction": 2.728}


@pytest.mark.filterwarnings("ignore")
def test_the_askers_model_on_the_seed_data(seed_toy):
    # exactly as the question wrote it ...
    fit = smf.mixedlm(ASKER, seed_toy, groups=seed_toy["participant_ID"]).fit()
    assert round(fit.scale, 4) == 0.0531
    assert round(fit.llf, 4) == -2.1869
    assert float(fit.cov_re.iloc[0, 0]) < 1e-6
    # ... and through the lme4-style front end, which must give the same model
    same = helpers.mixedlm(ASKER + " + (1 | participant_ID)", seed_toy).fit()
    assert same.llf == pytest.approx(fit.llf, abs=1e-8)
    np.testing.assert_allclose(same.fe_params, fit.fe_params, atol=1e-8)
    assert helpers.is_singular(same)


def test_seed_design_is_within_and_between(seed_toy):
    d = helpers.describe_design(seed_toy, "participant_ID", ["Condition_1", "Condition_2"])
    assert d["design"].to_dict() == {"Condition_1": "within", "Condition_2": "between"}
