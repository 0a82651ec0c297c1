"""Show the warnings a fit raises as plain lines that fit the text column, once each."""
from __future__ import annotations

import textwrap
import warnings
from collections import Counter
from contextlib import contextmanager

#: The widest line :func:`report_warnings` prints: the book's text column (88 characters).
WIDTH = 88


def _wrap(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` characters, indented under its first line."""
    lines = []
    for k, part in enumerate(text.splitlines() or [""]):
        lines.extend(textwrap.wrap(part, width=width, initial_indent="  " if k == 0 else "    ",
                                   subsequent_indent="    ", break_on_hyphens=False)
                     or [""])
    return lines


@contextmanager
def report_warnings(label: str = "warnings", width: int = WIDTH):
    """Catch every warning raised inside the block and print each kind once, with a count.

    statsmodels often repeats the same warning from inside its optimizer; this
    prints each distinct one once, on standard output, after the block, and
    prints that there were none when there were none. Nothing is hidden.
    The caught warnings are also available as the list the context yields.

    Parameters
    ----------
    label : str, default "warnings"
        The word the first printed line starts with.
    width : int, default 88
        The longest line printed: a long message is wrapped onto indented lines, so that
        it fits a page's text column instead of running off to the side.

    Raises
    ------
    ValueError
        If ``width`` is not an integer of at least 20.

    Examples
    --------
    >>> import warnings, helpers
    >>> with helpers.report_warnings() as caught:
    ...     warnings.warn("variance at the boundary")
    warnings: 1
      UserWarning: variance at the boundary
    >>> len(caught)
    1
    >>> with helpers.report_warnings(width=30):
    ...     warnings.warn("the Hessian is not positive definite")
    warnings: 1
      UserWarning: the Hessian is
        not positive definite
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 20:
        raise ValueError(f"width must be a whole number of characters, at least 20, "
                         f"got {width!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    counts = Counter((type(w.message).__name__, str(w.message)) for w in caught)
    if not counts:
        print(f"{label}: none")
        return
    print(f"{label}: {len(caught)}")
    for (kind, text), n in counts.items():
        print("\n".join(_wrap(f"{kind}: {text}" + (f"  (x{n})" if n > 1 else ""), width)))
