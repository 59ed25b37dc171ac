"""What a feature is: its public description (:class:`FeatureSpec`) and its recipe (definition).

A *definition* is one registered recipe (``rsi_14``) that can be computed on any bar frame; a
*spec* describes one concrete column of :func:`~ml_core.features.compute_features` (``rsi_14`` on
the base bars, ``rsi_14_4h`` on 4-hour bars). Catalogue modules (``_technical.py``,
``_statistical.py``, ``_risk.py``, ...) add definitions with the :func:`feature` decorator; to grow
the feature set, write one more decorated function there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from ml_core.config import FeatureConfig
    from ml_core.features._ops import Ops, Value

Family = Literal["technical", "statistical", "regime", "onchain_proxy", "risk"]
FAMILIES: tuple[str, ...] = get_args(Family)

Lookback = Callable[["FeatureConfig", timedelta], int]


@dataclass(frozen=True)
class FeatureSpec:
    """One column of the feature matrix.

    Parameters
    ----------
    name : str
        Column name; higher-timeframe columns end in the timeframe (``rsi_14_4h``).
    family : {"technical", "statistical", "regime", "onchain_proxy", "risk"}
        Coarse grouping, for reports and feature-importance summaries.
    timeframe : str
        Bar length the value is computed on (``"30m"``, ``"4h"``, ...).
    lookback : int
        Bars of ``timeframe`` needed for the first value: on gap-free data the column is NaN on
        the first ``lookback - 1`` bars of that timeframe and defined from then on.
    description : str
        One line saying what the value measures.
    """

    name: str
    family: Family
    timeframe: str
    lookback: int
    description: str

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"`family` must be one of {FAMILIES}, got `family={self.family!r}`")
        if self.lookback < 1:
            raise ValueError(f"`lookback` must be at least 1, got `lookback={self.lookback}`")


@dataclass(frozen=True)
class FeatureDefinition:
    """A registered recipe computed on one bar frame (the base bars or a higher timeframe).

    ``compute(ctx)`` is written against :class:`~ml_core.features._ops.Ops` (see that module for
    the rules) and returns the feature for every bar of ``ctx`` (batch mode: an array of shape
    ``(n_bars,)`` whose row ``t`` uses rows ``<= t`` only) or for its newest bar (streaming). ``lookback(config, timeframe)`` is the bars of ``timeframe`` it needs
    (see :attr:`FeatureSpec.lookback`); ``available(config, timeframe)`` says whether the recipe
    makes sense on bars of that length (``momentum_1h`` does not on 4-hour bars).
    """

    name: str
    family: Family
    description: str
    compute: Callable[[Ops], Value]
    lookback: Lookback
    higher_timeframes: bool
    available: Callable[[FeatureConfig, timedelta], bool]


@dataclass(frozen=True)
class CrossTimeframeDefinition:
    """A recipe combining the same feature across the base and higher timeframes.

    ``compute(frames, ops)`` gets one mapping per timeframe label (the base first) from the
    unsuffixed names of that timeframe's columns to their values on the base bars (already
    joined causally): arrays in batch mode, the newest bar's floats when streaming.
    """

    name: str
    family: Family
    description: str
    compute: Callable[[dict[str, dict[str, Value]], Ops], Value]
    requires: tuple[str, ...]


DEFINITIONS: dict[str, FeatureDefinition] = {}
CROSS_TIMEFRAME_DEFINITIONS: dict[str, CrossTimeframeDefinition] = {}


def _always(config: FeatureConfig, timeframe: timedelta) -> bool:
    return True


def feature(
    name: str,
    *,
    family: Family,
    description: str,
    lookback: int | Lookback,
    higher_timeframes: bool = False,
    available: Callable[[FeatureConfig, timedelta], bool] = _always,
) -> Callable[[Callable[[Ops], Value]], Callable[[Ops], Value]]:
    """Register the decorated ``compute(ctx) -> ndarray`` as the feature ``name``.

    Parameters
    ----------
    name : str
        Column name on the base bars; unique.
    family : str
        One of :data:`FAMILIES`.
    description : str
        One line.
    lookback : int or callable
        Bars needed for the first value, or ``lookback(config, timeframe) -> int`` when it
        depends on the configuration or the bar length.
    higher_timeframes : bool
        Also compute it on every ``config.higher_timeframes`` (column ``f"{name}_{label}"``).
    available : callable
        ``available(config, timeframe) -> bool``; the feature is left out where False.
    """
    if family not in FAMILIES:
        raise ValueError(f"`family` must be one of {FAMILIES}, got `family={family!r}`")
    if name in DEFINITIONS or name in CROSS_TIMEFRAME_DEFINITIONS:
        raise ValueError(f"feature `{name}` is already registered")
    size = lookback if callable(lookback) else (lambda config, timeframe, _n=int(lookback): _n)

    def register(compute: Callable[[Ops], Value]) -> Callable[[Ops], Value]:
        DEFINITIONS[name] = FeatureDefinition(
            name=name, family=family, description=description, compute=compute,
            lookback=size, higher_timeframes=higher_timeframes, available=available,
        )
        return compute

    return register


def cross_timeframe_feature(
    name: str, *, family: Family, description: str, requires: tuple[str, ...]
) -> Callable[[Callable[[dict[str, dict[str, Value]], Ops], Value]],
              Callable[[dict[str, dict[str, Value]], Ops], Value]]:
    """Register ``compute(frames, ops) -> value`` as a cross-timeframe feature (see
    :class:`CrossTimeframeDefinition`); ``requires`` names the per-timeframe features it reads,
    each of which must be registered with ``higher_timeframes=True``."""
    if name in DEFINITIONS or name in CROSS_TIMEFRAME_DEFINITIONS:
        raise ValueError(f"feature `{name}` is already registered")

    def register(
        compute: Callable[[dict[str, dict[str, Value]], Ops], Value],
    ) -> Callable[[dict[str, dict[str, Value]], Ops], Value]:
        CROSS_TIMEFRAME_DEFINITIONS[name] = CrossTimeframeDefinition(
            name=name, family=family, description=description, compute=compute,
            requires=tuple(requires),
        )
        return compute

    return register


def timeframe_label(timeframe: timedelta) -> str:
    """Short label of a bar length, used as a column suffix: ``1d``, ``4h``, ``15m``, ``30s``.

    Examples
    --------
    >>> timeframe_label(timedelta(minutes=90))
    '90m'
    """
    seconds = int(timeframe.total_seconds())
    if seconds <= 0 or seconds != timeframe.total_seconds():
        raise ValueError(
            f"`timeframe` must be a positive whole number of seconds, got `timeframe={timeframe}`"
        )
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# Recipes call these on every bar of the stream, with a handful of distinct arguments: cached,
# a call is one dictionary look-up instead of timedelta arithmetic.
@lru_cache(maxsize=256)
def bars_in(duration: timedelta, timeframe: timedelta) -> int:
    """Whole bars of ``timeframe`` in ``duration`` (``duration`` must be a multiple of it)."""
    if duration < timeframe or duration % timeframe:
        raise ValueError(
            f"`duration` must be a whole multiple of the bar length, got `duration={duration}`, "
            f"`timeframe={timeframe}`"
        )
    return int(duration // timeframe)


@lru_cache(maxsize=256)
def bars_at_least(duration: timedelta, timeframe: timedelta) -> int:
    """Fewest bars of ``timeframe`` covering ``duration`` (at least 1)."""
    return max(1, -(-duration // timeframe))
