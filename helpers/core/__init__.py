"""The library: what a reader may import in an analysis of their own.

One module per step of an analysis, in the order a reader meets them:

* ``data``     -- :func:`load` and :func:`datasets`, the data shipped in ``data/``
* ``design``   -- :func:`describe_design`: within, between, nested or crossed, from the data
* ``formula``  -- :func:`mixedlm`: an lme4 formula turned into an (unfitted) statsmodels MixedLM
* ``translate``-- :func:`statsmodels_call`, :func:`translation_table`: that model as statsmodels code
* ``fitting``  -- :func:`fit_all` (lme4's ``allFit``) and :func:`is_singular` (``isSingular``)
* ``inference``-- :func:`anova`: Type III F tests with Satterthwaite df (lmerTest)
* ``compare``  -- :func:`lrt`: likelihood-ratio tests, with the boundary mixtures
* ``varcorr``  -- :func:`varcorr`: random-effect SDs and correlations (lme4's ``VarCorr``)
* ``posthoc``  -- :func:`emmeans`, :func:`contrasts`: marginal means and post hoc tests (emmeans)
* ``intervals``-- :func:`confint` (profile, bootstrap, Wald) and :func:`r2` (r2_nakagawa)
* ``against_r``-- :func:`compare_with_r`: a fit beside R's stored fit of a reference case
* ``report``   -- tidy tables and journal-style numbers for a write-up
* ``plots``    -- spaghetti, interaction, caterpillar and residual plots
* ``warnings_report`` -- show the warnings a fit raises, once each

``_checks`` holds the input checks they share (errors that name the culprit).
"""
