"""The chapters' study code: data simulated from named parameters, and the teaching figures.

These modules serve the book's chapters; they are not part of the stable API a
reader's own analysis should rely on (that is :mod:`helpers.core`).

* ``simulate``   -- data sets drawn from named parameters (``subj_sd``, ``error_sd``, ...)
* ``missing``    -- chapter 5: dropout, complete-case ANOVA and the mixed model on all rows
* ``slopes``     -- chapter 6: each group's line, shrinkage and lattice figures
* ``crossed``    -- chapter 7: by-participant and by-item tests against the crossed model
* ``structures`` -- chapter 9: pupils in classes in schools, with slopes
* ``power``      -- chapter 12: power by simulation (extend a fitted design, power curves,
  the closed form for crossed random intercepts), in parallel through joblib
"""
