"""The one exception the analyses raise about the data themselves.

`DataError` says that the values handed in cannot be analysed (constant decisions, NaN,
too few samples for the dimensions, collinear columns); the caller can name the input at
fault. Any other exception from `analyses` (a plain `ValueError` about shapes, dtypes or
arguments) is a mistake in the calling code.
"""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """The data cannot be analysed as given; the message says why and what would help."""
