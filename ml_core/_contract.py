"""One parameter contract: an estimator takes its defaults and bounds from its profile section.

A parameter that a profile section (:mod:`ml_core.config`) and an estimator share is declared once,
as the section's pydantic field: its default and its constraints (``annotated_types`` bounds such as
``gt``/``le``, a ``Literal`` of choices, ``| None``, a :class:`annotated_types.Predicate`). The
estimator's ``__init__`` default is :func:`field_default` and its ``_check_params`` calls
:func:`check_field`, so the two sides cannot drift apart (``tests/ml_core/test_contract.py``
checks them field by field).
"""

from __future__ import annotations

import numbers
import types
import typing
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel

__all__ = ["check_field", "field_choices", "field_default"]


def field_default(section: type[BaseModel], name: str) -> Any:
    """The default ``section`` declares for its field ``name`` (a default factory is called).

    Parameters
    ----------
    section : type of pydantic.BaseModel
        A profile section, e.g. :class:`~ml_core.config.EnsembleConfig`.
    name : str
        One of its fields.

    Returns
    -------
    Any
    """
    return section.model_fields[name].get_default(call_default_factory=True)


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def field_choices(section: type[BaseModel], name: str) -> tuple[Any, ...]:
    """The values of the ``Literal`` that field ``name`` of ``section`` is typed as (else ``()``)."""
    return tuple(choice for member in _members(section.model_fields[name].annotation)
                 if typing.get_origin(member) is Literal for choice in typing.get_args(member))


def _number(value: float) -> str:
    return f"{value:g}"


def _describe(integer: bool, metadata: list[Any]) -> str:
    """``"in (0, 1]"``, ``"an integer of at least 2"``, ``"a non-zero integer"``, ..."""
    low = next(((m.gt, "(") for m in metadata if isinstance(m, annotated_types.Gt)),
               next(((m.ge, "[") for m in metadata if isinstance(m, annotated_types.Ge)), None))
    high = next(((m.lt, ")") for m in metadata if isinstance(m, annotated_types.Lt)),
                next(((m.le, "]") for m in metadata if isinstance(m, annotated_types.Le)), None))
    notes = [m.func.__doc__ for m in metadata
             if isinstance(m, annotated_types.Predicate) and m.func.__doc__]
    kind = "an integer" if integer else "a number"
    if low is not None and high is not None:
        bound = f"in {low[1]}{_number(low[0])}, {_number(high[0])}{high[1]}"
        return f"an integer {bound}" if integer else bound
    if low is not None:
        return f"{kind} {'above' if low[1] == '(' else 'of at least'} {_number(low[0])}"
    if high is not None:
        return f"{kind} {'below' if high[1] == ')' else 'of at most'} {_number(high[0])}"
    if notes:
        return f"a {' '.join(notes)} {kind.split()[1]}"
    return kind


def check_field(section: type[BaseModel], name: str, value: Any) -> None:
    """Refuse ``value`` for the estimator parameter ``name`` as ``section`` refuses it.

    Reads the field's declaration: ``None`` is accepted when the annotation allows it, a
    ``Literal`` field takes one of its values, a numeric field a real number (an integer for
    ``int``; never a bool) within the ``annotated_types`` bounds and predicates of the field.
    Validators written as methods of the section (cross-field checks) are not read.

    Parameters
    ----------
    section : type of pydantic.BaseModel
        The profile section declaring the parameter.
    name : str
        The field, which is also the estimator's parameter name.
    value : Any
        The estimator's value.

    Raises
    ------
    ValueError
        Naming the parameter, the accepted values and ``value``, e.g. "`kelly_fraction` must be in
        (0, 1], got `kelly_fraction=0.0`".
    """
    field = section.model_fields[name]
    members = _members(field.annotation)
    if value is None and type(None) in members:
        return
    choices = field_choices(section, name)
    if choices:
        if value not in choices or isinstance(value, bool) != any(
                isinstance(c, bool) for c in choices):
            raise ValueError(f"`{name}` must be one of {list(choices)}, got `{name}={value!r}`")
        return
    integer = int in members and float not in members
    expected = numbers.Integral if integer else numbers.Real
    metadata = list(field.metadata)
    message = f"`{name}` must be {_describe(integer, metadata)}" + (
        " or None" if type(None) in members else "") + f", got `{name}={value!r}`"
    if not isinstance(value, expected) or isinstance(value, bool) or value != value:  # NaN
        raise ValueError(message)
    for m in metadata:
        ok = {annotated_types.Gt: lambda: value > m.gt, annotated_types.Ge: lambda: value >= m.ge,
              annotated_types.Lt: lambda: value < m.lt, annotated_types.Le: lambda: value <= m.le,
              annotated_types.Predicate: lambda: m.func(value)}.get(type(m), lambda: True)()
        if not ok:
            raise ValueError(message)
