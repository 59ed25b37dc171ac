"""The feature registry: which columns a configuration produces, in which order, with what needs.

Columns come in three blocks: every registered recipe on the base bars (in registration order:
technical, statistical, on-chain proxies, risk), then for each ``config.higher_timeframes`` (in
the configured order) the recipes registered with ``higher_timeframes=True`` under
``f"{name}_{label}"``, then the cross-timeframe features.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ml_core.config import FeatureConfig

# Importing the catalogue registers its recipes; this order is the column order.
# isort: off
from ml_core.features import _technical  # noqa: F401
from ml_core.features import _statistical  # noqa: F401
from ml_core.features import _volume  # noqa: F401
from ml_core.features import _onchain  # noqa: F401
from ml_core.features import _risk  # noqa: F401
from ml_core.features import _multi_timeframe  # noqa: F401
# isort: on
from ml_core.features._spec import (
    CROSS_TIMEFRAME_DEFINITIONS,
    DEFINITIONS,
    CrossTimeframeDefinition,
    FeatureDefinition,
    FeatureSpec,
    timeframe_label,
)

DEFAULT_BASE_TIMEFRAME = timedelta(minutes=30)


@dataclass(frozen=True)
class PlannedColumn:
    """One output column: its spec, its recipe, the timeframe it runs on (None: base bars) and
    the base bars it needs before its first value."""

    spec: FeatureSpec
    definition: FeatureDefinition | CrossTimeframeDefinition
    timeframe: timedelta | None
    base_bars_needed: int


def check_timeframes(config: FeatureConfig, base_timeframe: timedelta) -> list[timedelta]:
    """The higher timeframes of ``config``, checked against ``base_timeframe``."""
    if not isinstance(base_timeframe, timedelta) or base_timeframe <= timedelta(0):
        raise ValueError(
            "`base_timeframe` must be a positive timedelta, got "
            f"`base_timeframe={base_timeframe!r}`"
        )
    labels = {timeframe_label(base_timeframe)}
    for tf in config.higher_timeframes:
        if tf <= base_timeframe or tf % base_timeframe:
            raise ValueError(
                f"`higher_timeframes` must be whole multiples (> 1) of `base_timeframe`, got "
                f"`higher_timeframes={[timeframe_label(t) for t in config.higher_timeframes]}`, "
                f"`base_timeframe={timeframe_label(base_timeframe)}`"
            )
        label = timeframe_label(tf)
        if label in labels:
            raise ValueError(f"`higher_timeframes` lists {label} twice")
        labels.add(label)
    return list(config.higher_timeframes)


def plan_columns(config: FeatureConfig, base_timeframe: timedelta) -> list[PlannedColumn]:
    """Every column :func:`compute_features` produces for this configuration, in order."""
    higher = check_timeframes(config, base_timeframe)
    base_label = timeframe_label(base_timeframe)
    columns: list[PlannedColumn] = []
    for definition in DEFINITIONS.values():
        if definition.available(config, base_timeframe):
            lookback = int(definition.lookback(config, base_timeframe))
            columns.append(PlannedColumn(
                FeatureSpec(definition.name, definition.family, base_label, lookback,
                            definition.description),
                definition, None, lookback,
            ))
    for tf in higher:
        label, ratio = timeframe_label(tf), int(tf // base_timeframe)
        for definition in DEFINITIONS.values():
            if definition.higher_timeframes and definition.available(config, tf):
                lookback = int(definition.lookback(config, tf))
                columns.append(PlannedColumn(
                    FeatureSpec(f"{definition.name}_{label}", definition.family, label, lookback,
                                f"{definition.description}, on {label} bars"),
                    definition, tf, lookback * ratio,
                ))
    for cross in CROSS_TIMEFRAME_DEFINITIONS.values():
        needed = 1
        for name in cross.requires:
            required = DEFINITIONS.get(name)
            if required is None or not required.higher_timeframes:
                raise ValueError(
                    f"cross-timeframe feature `{cross.name}` requires `{name}`, which must be "
                    f"registered with `higher_timeframes=True`"
                )
            needed = max(needed, required.lookback(config, base_timeframe),
                         *(required.lookback(config, tf) * int(tf // base_timeframe)
                           for tf in higher))
        columns.append(PlannedColumn(
            FeatureSpec(cross.name, cross.family, base_label, int(needed), cross.description),
            cross, None, int(needed),
        ))
    names = [c.spec.name for c in columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"feature names collide for this configuration: {duplicated}")
    return columns


def feature_specs(config: FeatureConfig, base_timeframe: timedelta) -> dict[str, FeatureSpec]:
    """Name -> :class:`FeatureSpec` of every column :func:`compute_features` produces, in order.

    Parameters
    ----------
    config : FeatureConfig
        Windows and higher timeframes.
    base_timeframe : timedelta
        Length of one base bar (``config.data.timeframe`` of the profile).
    """
    return {c.spec.name: c.spec for c in plan_columns(config, base_timeframe)}


def feature_names(config: FeatureConfig, base_timeframe: timedelta) -> list[str]:
    """Column names of :func:`compute_features` for this configuration, in order."""
    return list(feature_specs(config, base_timeframe))


#: Specs of the columns for the default ``FeatureConfig()`` on 30-minute bars (the demo profile
#: and the bundled sample). Other configurations: :func:`feature_specs`.
FEATURES: dict[str, FeatureSpec] = feature_specs(FeatureConfig(), DEFAULT_BASE_TIMEFRAME)
