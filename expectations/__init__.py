"""Great Expectations quality gate for bar files (see :mod:`expectations.ohlcv`).

Importing this package is cheap: Great Expectations itself is imported on first use.
"""

from expectations.ohlcv import *  # noqa: F403 - the public namespace is ohlcv's
from expectations.ohlcv import __all__  # noqa: F401
