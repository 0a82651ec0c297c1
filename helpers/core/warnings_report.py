"""Show the warnings a fit raises as plain lines, so a chapter can point at them."""
from __future__ import annotations

import warnings
from collections import Counter
from contextlib import contextmanager


@contextmanager
def report_warnings(label: str = "warnings"):
    """Catch every warning raised inside the block and print each kind once, with a count.

    statsmodels often repeats the same warning from inside its optimizer; this
    prints each distinct one once, on standard output, after the block, and
    prints that there were none when there were none. Nothing is hidden.
    The caught warnings are also available as the list the context yields.

    Examples
    --------
    >>> import warnings, helpers
    >>> with helpers.report_warnings() as caught:
    ...     warnings.warn("variance at the boundary")
    warnings: 1
      UserWarning: variance at the boundary
    >>> len(caught)
    1
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    counts = Counter((type(w.message).__name__, str(w.message)) for w in caught)
    if not counts:
        print(f"{label}: none")
        return
    print(f"{label}: {len(caught)}")
    for (kind, text), n in counts.items():
        print(f"  {kind}: {text}" + (f"  (x{n})" if n > 1 else ""))
