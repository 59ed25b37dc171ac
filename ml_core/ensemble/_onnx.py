"""The fitted ensemble compiled to ONNX and served by onnxruntime, without pickle or scikit-learn.

:func:`export_onnx` turns a fitted :class:`~ml_core.ensemble.RegimeForestEnsemble` into ONNX
graphs (protobuf bytes, no code):

- ``components``: the four forests in one graph, input ``X`` = the ``forest_features_`` columns
  as float32 (as scikit-learn's trees read them), output ``components`` of shape (n, 4) float64 =
  ``p_entry, size, p_exit, profit`` exactly as the ensemble's ``predict_components`` computes them:
  P(class 1) of each classifier (0.0 for a forest fitted without class 1), clipped to ``[0, 1]``;
  ``size`` clipped to ``[0, 1]``; ``profit`` as predicted. Each forest is one ``TreeEnsemble``
  node (ai.onnx.ml 5) written from the fitted trees with float64 thresholds and leaf values, so
  the outputs equal scikit-learn's to ~1e-16 (skl2onnx's converters output float32 in
  onnxruntime: ~1e-7 off). One run of one session serves the four forests: 14 us for one row of
  the demo model against 28 us for four sessions.
- ``meta`` and ``meta_<regime>``: the global meta-learner and each regime's (skl2onnx,
  ``StandardScaler`` then ``LogisticRegression``, in float64), input ``M`` = the
  ``meta_features_``, output ``p`` of shape (n,) = P(take-profit first), clipped to ``[0, 1]``.
- ``calibrator``: :class:`~ml_core.ensemble.ProbabilityCalibrator` (no skl2onnx converter
  exists), written with ``onnx.helper`` in float64, input ``p`` (n,), output ``p`` (n,) clipped to
  ``[0, 1]``: ``sigmoid(a * logit(clip(p, 1e-6, 1 - 1e-6)) + b)``, or for ``isotonic`` the
  linear interpolation between the knots held constant outside them (as ``numpy.interp``).

:class:`CompiledEnsemble` runs them in onnxruntime, one thread per session (a served model
predicts a row at a time): the three chained into one graph, one session run per call, or one
session per graph when each regime has its own meta-learner and serves the ensemble's prediction API (``predict``,
``predict_from``, ``predict_proba``, ``predict_components``, ``smoother``) through
:class:`~ml_core.ensemble._serving.SignalServing`, the code the scikit-learn ensemble uses too.
Probabilities equal scikit-learn's to ~1e-15 (tested ≤ 1e-5 on holdout rows).

skl2onnx, onnx and onnxruntime are imported only when a function needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_core.ensemble._regimes import REGIME_COLUMNS
from ml_core.ensemble._serving import (
    _P_EXIT,
    COMPONENT_COLUMNS,
    FeatureColumns,
    SignalServing,
    dominant_regimes,
)
from ml_core.ensemble._signal import MODEL_NAMES

__all__ = ["SERVING_PARAMS", "TARGET_OPSET", "CompiledEnsemble", "EngineParity", "compare_engines",
           "export_onnx", "serving_spec"]

TARGET_OPSET: dict[str, int] = {"": 21, "ai.onnx.ml": 3}
"""ONNX opsets of the exported graphs (the forests' graph uses ai.onnx.ml 5, see
``_TREE_OPSET``); skl2onnx 1.20 writes up to 22, onnxruntime 1.32 runs them. Fixed, so the same
model exports to the same bytes whatever the installed maximum."""

SERVING_PARAMS: tuple[str, ...] = (
    "confidence_threshold", "regime_thresholds", "smoothing", "hysteresis_band", "ewma_span",
    "payoff_ratio", "kelly_fraction", "cvar_budget", "calibration", "regime_mode",
)
"""Parameters of the ensemble the compiled one serves with (the signal rule's)."""

_SERVING_ATTRIBUTES = ("feature_names_in_", "forest_features_", "meta_features_",
                       "regime_mode_", "regime_models_", "tail_loss_", "classes_")
"""Learned attributes the compiled ensemble needs (plain values, stored as JSON)."""

_CLASSIFIERS = ("entry", "exit")
_TREE_OPSET = 5
"""ai.onnx.ml opset of the forests' graph: its ``TreeEnsemble`` sums float64 leaf values
(``TreeEnsembleClassifier``/``Regressor``, which skl2onnx writes, output float32 in onnxruntime:
about 1e-7 off, which an isotonic calibrator's steep pieces amplified to 1e-5 in ``p_long``)."""


# ----------------------------------------------------------------------------- export

def _float_tensor(name: str, values: Any, dtype: Any) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name=name)


def _tree_ensemble(forest: Any, column: int | None, source: str, target: str) -> Any:
    """A ``TreeEnsemble`` node (ai.onnx.ml 5, float64) summing the trees of a fitted forest.

    Each leaf weighs what scikit-learn's tree predicts there: ``value[leaf, 0, column]`` over the
    leaf's total (a classifier tree's class fractions, as ``DecisionTreeClassifier.predict_proba``
    normalises them) or ``value[leaf, 0, 0]`` (a regressor tree). Splits are ``x <= threshold``
    with scikit-learn's float64 thresholds; ``source`` must hold the features rounded to float32,
    as scikit-learn's trees read them. Divided by the number of trees, the sum is the forest's
    prediction to the last bit or two (the trees are summed in the same order).
    """
    from onnx import helper, numpy_helper

    features: list[int] = []
    splits: list[float] = []
    true_ids: list[int] = []
    true_leaf: list[int] = []
    false_ids: list[int] = []
    false_leaf: list[int] = []
    roots: list[int] = []
    weights: list[float] = []
    for tree in (estimator.tree_ for estimator in forest.estimators_):
        left, right = tree.children_left, tree.children_right
        value = tree.value[:, 0, :]
        if column is None:
            leaf_value = value[:, 0]
        else:
            total = value.sum(axis=1)
            total[total == 0.0] = 1.0
            leaf_value = value[:, column] / total
        interior = np.flatnonzero(left != -1)
        leaves = np.flatnonzero(left == -1)
        node_id = {int(n): len(features) + i for i, n in enumerate(interior)}
        leaf_id = {int(n): len(weights) + i for i, n in enumerate(leaves)}
        weights.extend(leaf_value[leaves].tolist())
        roots.append(len(features))
        if interior.size == 0:  # a tree of one leaf: a split whose two sides are that leaf
            features.append(0)
            splits.append(0.0)
            true_ids.append(leaf_id[0])
            false_ids.append(leaf_id[0])
            true_leaf.append(1)
            false_leaf.append(1)
            continue
        for n in interior.tolist():
            features.append(int(tree.feature[n]))
            splits.append(float(tree.threshold[n]))
            for child, ids, is_leaf in ((int(left[n]), true_ids, true_leaf),
                                        (int(right[n]), false_ids, false_leaf)):
                ids.append(node_id[child] if child in node_id else leaf_id[child])
                is_leaf.append(0 if child in node_id else 1)
    return helper.make_node(
        "TreeEnsemble", [source], [target], domain="ai.onnx.ml",
        nodes_featureids=features,
        nodes_splits=numpy_helper.from_array(np.asarray(splits, dtype=np.float64)),
        nodes_modes=numpy_helper.from_array(np.zeros(len(features), dtype=np.uint8)),  # x <= t
        nodes_truenodeids=true_ids, nodes_trueleafs=true_leaf,
        nodes_falsenodeids=false_ids, nodes_falseleafs=false_leaf,
        tree_roots=roots, leaf_targetids=[0] * len(weights),
        leaf_weights=numpy_helper.from_array(np.asarray(weights, dtype=np.float64)),
        n_targets=1, aggregate_function=1, post_transform=0)  # SUM, no transform


def _components_graph(forests: Mapping[str, Any], n_features: int) -> Any:
    """The four forests in one graph: input ``X`` (n, n_features) float32, output
    ``components`` (n, 4) float64 (see the module docstring)."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Cast", ["X"], ["X64"], to=TensorProto.DOUBLE)]
    initializers = [_float_tensor("zero", 0.0, np.float64), _float_tensor("one", 1.0, np.float64)]
    columns = []
    for name in MODEL_NAMES:
        forest, column = forests[name], f"{name}_column"
        columns.append(column)
        classes = list(getattr(forest, "classes_", []))
        if name in _CLASSIFIERS and 1 not in classes:
            # fitted without class 1: P(class 1) is the constant 0.0, as _component says
            initializers.append(helper.make_tensor(f"{name}_one", TensorProto.INT64, [1], [1]))
            nodes += [
                helper.make_node("Shape", ["X"], [f"{name}_rows"], end=1),
                helper.make_node("Concat", [f"{name}_rows", f"{name}_one"], [f"{name}_shape"],
                                 axis=0),
                helper.make_node("ConstantOfShape", [f"{name}_shape"], [column],
                                 value=_float_tensor("value", [0.0], np.float64)),
            ]
            continue
        index = classes.index(1) if name in _CLASSIFIERS else None
        initializers.append(_float_tensor(f"{name}_trees", float(len(forest.estimators_)),
                                          np.float64))
        nodes += [_tree_ensemble(forest, index, "X64", f"{name}_sum"),
                  helper.make_node("Div", [f"{name}_sum", f"{name}_trees"], [f"{name}_mean"])]
        if name == "profit":
            nodes.append(helper.make_node("Identity", [f"{name}_mean"], [column]))
        else:  # probabilities, and the position size, within [0, 1]
            nodes.append(helper.make_node("Clip", [f"{name}_mean", "zero", "one"], [column]))
    nodes.append(helper.make_node("Concat", columns, ["components"], axis=1))
    graph = helper.make_graph(
        nodes, "regimeforest_components",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, n_features])],
        [helper.make_tensor_value_info("components", TensorProto.DOUBLE,
                                       [None, len(MODEL_NAMES)])],
        initializers)
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", TARGET_OPSET[""]),
                              helper.make_opsetid("ai.onnx.ml", _TREE_OPSET)],
        producer_name="ml_core.ensemble")


def _meta_graph(meta: Any, n_features: int) -> Any:
    """A fitted meta-learner pipeline: input ``M`` (n, n_features) float64, output ``p`` (n,)."""
    from onnx import TensorProto, helper
    from skl2onnx import to_onnx

    model = to_onnx(meta, np.zeros((1, n_features), dtype=np.float64),
                    options={id(meta[-1]): {"zipmap": False}}, target_opset=TARGET_OPSET)
    graph = model.graph
    source, probabilities = graph.input[0].name, graph.output[1].name
    for node in graph.node:
        for i, item in enumerate(node.input):
            if item == source:
                node.input[i] = "M"
    positive = list(meta.classes_).index(1)
    graph.initializer.extend([
        helper.make_tensor("positive", TensorProto.INT64, [], [positive]),
        _float_tensor("zero", 0.0, np.float64), _float_tensor("one", 1.0, np.float64)])
    graph.node.extend([
        helper.make_node("Gather", [probabilities, "positive"], ["p_raw"], axis=1),
        helper.make_node("Clip", ["p_raw", "zero", "one"], ["p"]),
    ])
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info("M", TensorProto.DOUBLE, [None, n_features]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("p", TensorProto.DOUBLE, [None]))
    _prune(graph)  # the predicted label's nodes: nothing reads them
    return model


def _prune(graph: Any) -> None:
    """Drop the nodes and initializers no output of ``graph`` depends on."""
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _calibrator_graph(calibrator: Any) -> Any:
    """A fitted ProbabilityCalibrator: input ``p`` (n,) float64, output ``p_calibrated`` (n,)."""
    from onnx import TensorProto, helper

    from ml_core.ensemble._calibration import _EPS

    init = [_float_tensor("zero", 0.0, np.float64), _float_tensor("one", 1.0, np.float64)]
    if calibrator.method == "sigmoid":
        init += [_float_tensor("eps_low", _EPS, np.float64),
                 _float_tensor("eps_high", 1.0 - _EPS, np.float64),
                 _float_tensor("slope", calibrator.slope_, np.float64),
                 _float_tensor("intercept", calibrator.intercept_, np.float64)]
        nodes = [
            helper.make_node("Clip", ["p", "eps_low", "eps_high"], ["q"]),
            helper.make_node("Sub", ["one", "q"], ["q_not"]),
            helper.make_node("Div", ["q", "q_not"], ["odds"]),
            helper.make_node("Log", ["odds"], ["logit"]),
            helper.make_node("Mul", ["slope", "logit"], ["scaled"]),
            helper.make_node("Add", ["scaled", "intercept"], ["z"]),
            helper.make_node("Sigmoid", ["z"], ["s"]),
            helper.make_node("Clip", ["s", "zero", "one"], ["p_calibrated"]),
        ]
    else:
        x = np.asarray(calibrator.x_thresholds_, dtype=np.float64)
        y = np.asarray(calibrator.y_thresholds_, dtype=np.float64)
        # y0 + sum_k slope_k * (min(max(p, x_k), x_{k+1}) - x_k): numpy.interp's linear pieces,
        # constant below x_0 and above x_K (a zero-width piece, if any, adds nothing)
        width = np.diff(x)
        slope = np.divide(np.diff(y), width, out=np.zeros_like(width), where=width > 0)
        init += [_float_tensor("y0", y[0], np.float64),
                 _float_tensor("lower", x[:-1].reshape(1, -1), np.float64),
                 _float_tensor("upper", x[1:].reshape(1, -1), np.float64),
                 _float_tensor("slopes", slope.reshape(1, -1), np.float64),
                 helper.make_tensor("column_axis", TensorProto.INT64, [1], [1])]
        nodes = [
            helper.make_node("Unsqueeze", ["p", "column_axis"], ["p_column"]),
            helper.make_node("Max", ["p_column", "lower"], ["above"]),
            helper.make_node("Min", ["above", "upper"], ["inside"]),
            helper.make_node("Sub", ["inside", "lower"], ["run"]),
            helper.make_node("Mul", ["run", "slopes"], ["rise"]),
            helper.make_node("ReduceSum", ["rise", "column_axis"], ["total"], keepdims=0),
            helper.make_node("Add", ["total", "y0"], ["s"]),
            helper.make_node("Clip", ["s", "zero", "one"], ["p_calibrated"]),
        ]
    graph = helper.make_graph(
        nodes, f"regimeforest_calibrator_{calibrator.method}",
        [helper.make_tensor_value_info("p", TensorProto.DOUBLE, [None])],
        [helper.make_tensor_value_info("p_calibrated", TensorProto.DOUBLE, [None])], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", TARGET_OPSET[""])],
                             producer_name="ml_core.ensemble")


def _chained_graph(models: Mapping[str, bytes], n_regime: int) -> bytes:
    """``components`` → ``meta`` → ``calibrator`` (if any) as one graph, so that one session run
    serves a row (global meta-learner only): inputs ``X`` (the forests', float32) and ``R`` (the
    regime columns the meta-learner reads, float64; absent without any), outputs ``components``
    and ``p`` (calibrated). Built in memory from the stored graphs; on the demo model one row
    takes 40-48 us against 68-73 us for three sessions."""
    import onnx
    from onnx import TensorProto, compose, helper

    def renamed(model: Any, old: str, new: str) -> Any:
        for node in model.graph.node:
            for i, item in enumerate(node.input):
                if item == old:
                    node.input[i] = new
        return model

    parts = [onnx.load_from_string(models["components"]),
             renamed(compose.add_prefix(onnx.load_from_string(models["meta"]), "meta_"),
                     "meta_M", "M")]
    if "calibrator" in models:
        parts.append(renamed(compose.add_prefix(onnx.load_from_string(models["calibrator"]),
                                                "calibrator_"), "calibrator_p", "meta_p"))
    inputs = [parts[0].graph.input[0]]
    if n_regime:
        inputs.append(helper.make_tensor_value_info("R", TensorProto.DOUBLE, [None, n_regime]))
        glue = helper.make_node("Concat", ["components", "R"], ["M"], axis=1)
    else:
        glue = helper.make_node("Identity", ["components"], ["M"])
    nodes = [*parts[0].graph.node, glue, *(n for part in parts[1:] for n in part.graph.node)]
    nodes.append(helper.make_node("Identity", [parts[-1].graph.output[0].name], ["p"]))
    opsets: dict[str, int] = {}
    for part in parts:
        for opset in part.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
    graph = helper.make_graph(
        nodes, "regimeforest_serving", inputs,
        [parts[0].graph.output[0], helper.make_tensor_value_info("p", TensorProto.DOUBLE, [None])],
        [init for part in parts for init in part.graph.initializer])
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        producer_name="ml_core.ensemble").SerializeToString()


def export_onnx(ensemble: Any) -> dict[str, bytes]:
    """The ONNX graphs of a fitted ensemble, serialised, by name.

    Parameters
    ----------
    ensemble : RegimeForestEnsemble
        Fitted.

    Returns
    -------
    dict[str, bytes]
        ``"components"``, ``"meta"``, ``"meta_<regime>"`` for each of ``regime_models_`` and
        ``"calibrator"`` unless ``calibrator_`` is None (see the module docstring for each
        graph's inputs and outputs). Each value passes ``onnx.checker.check_model``.
    """
    import onnx
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(ensemble, "forests_")
    models = {
        "components": _components_graph(ensemble.forests_, len(ensemble.forest_features_)),
        "meta": _meta_graph(ensemble.meta_, len(ensemble.meta_features_)),
    }
    for regime in getattr(ensemble, "regime_models_", []):
        models[f"meta_{regime}"] = _meta_graph(ensemble.regime_meta_[regime],
                                               len(ensemble.meta_features_))
    if getattr(ensemble, "calibrator_", None) is not None:
        models["calibrator"] = _calibrator_graph(ensemble.calibrator_)
    out = {}
    for name, model in models.items():
        onnx.checker.check_model(model)
        out[name] = model.SerializeToString()
    return out


def serving_spec(ensemble: Any) -> dict[str, Any]:
    """What :class:`CompiledEnsemble` needs of a fitted ensemble besides its graphs: the
    :data:`SERVING_PARAMS` and the learned attributes the signal rule reads."""
    params = ensemble.get_params(deep=False)
    spec = {name: params[name] for name in SERVING_PARAMS}
    spec.update({name: getattr(ensemble, name) for name in _SERVING_ATTRIBUTES
                 if hasattr(ensemble, name)})
    return spec


# ----------------------------------------------------------------------------- runtime

def _session(model: bytes, name: str) -> Any:
    """An onnxruntime session on one thread (a served model predicts a row at a time, where a
    thread pool costs more than it saves, and several models share the cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # the graphs are already minimal; on the demo model the default optimisations made session
    # creation slower (26-46 ms against 16-27 ms) and a one-row run of the forests too (23 us
    # against 13 us)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, sess_options=options,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"the ONNX graph {name!r} cannot be loaded by onnxruntime: {exc}") from exc


class CompiledEnsemble(SignalServing):
    """A fitted :class:`~ml_core.ensemble.RegimeForestEnsemble` served by onnxruntime.

    Same predictions as the ensemble it was compiled from (probabilities within ~1e-15, see the
    module docstring), same API for serving: :meth:`predict`, :meth:`predict_from`,
    :meth:`predict_proba`, :meth:`predict_components`, :meth:`confidence_thresholds`,
    :meth:`smoother`, :meth:`sizing`. It cannot be refitted and holds no forest, table or
    cross-validation diagnostic (load the model with ``engine="sklearn"`` for those).

    Build it with :meth:`from_ensemble` (in memory) or from stored graphs
    (:func:`ml_core.pipeline.load_pipeline` with ``engine="onnx"``).

    Parameters
    ----------
    models : Mapping[str, bytes]
        The graphs of :func:`export_onnx`, by name.
    spec : Mapping[str, Any]
        :func:`serving_spec` of the ensemble: the :data:`SERVING_PARAMS` and the learned
        attributes ``feature_names_in_``, ``forest_features_``, ``meta_features_``,
        ``regime_mode_``, ``regime_models_``, ``tail_loss_`` (and ``classes_``); any other
        entry is set as an attribute too (e.g. ``fit_span_``).

    Attributes
    ----------
    engine : str
        ``"onnx"``.
    feature_names_in_, n_features_in_, forest_features_, meta_features_, regime_mode_,
    regime_models_, tail_loss_, classes_
        As the compiled ensemble's.
    """

    engine = "onnx"

    def __init__(self, models: Mapping[str, bytes], spec: Mapping[str, Any]) -> None:
        missing = [name for name in ("components", "meta") if name not in models]
        if missing:
            raise ValueError(f"`models` lacks the graphs {missing}")
        for name, value in spec.items():
            setattr(self, name, value)
        self.feature_names_in_ = np.asarray([str(c) for c in spec["feature_names_in_"]],
                                            dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.regime_thresholds = dict(spec.get("regime_thresholds") or {})
        self.regime_models_ = list(spec.get("regime_models_", []))
        self.classes_ = np.asarray(spec.get("classes_", [0, 1]))
        missing = [f"meta_{r}" for r in self.regime_models_ if f"meta_{r}" not in models]
        if spec.get("calibration", "none") != "none" and "calibrator" not in models:
            missing.append("calibrator")
        if missing:
            raise ValueError(f"`models` lacks the graphs {missing} the ensemble was fitted with")
        self._columns = FeatureColumns(self.feature_names_in_)
        names = list(self.feature_names_in_)
        self._forest_positions = np.asarray([names.index(c) for c in self.forest_features_],
                                            dtype=np.intp)
        self._regime_positions = np.asarray(
            [names.index(c) for c in self.meta_features_[len(COMPONENT_COLUMNS):]],
            dtype=np.intp)
        self._dominant_positions = (np.asarray([names.index(c) for c in REGIME_COLUMNS],
                                               dtype=np.intp)
                                    if all(c in names for c in REGIME_COLUMNS) else None)
        # One session for the whole chain when every row uses the global meta-learner;
        # one per graph when each regime has its own.
        self._by_regime = self._mode() == "models" and bool(self.regime_models_)
        self._chain = None if self._by_regime else _session(
            _chained_graph(models, self._regime_positions.size), "serving")
        self._components_session = (_session(models["components"], "components")
                                    if self._by_regime else None)
        self._meta_session = _session(models["meta"], "meta") if self._by_regime else None
        self._regime_sessions = {r: _session(models[f"meta_{r}"], f"meta_{r}")
                                 for r in self.regime_models_ if self._by_regime}
        self._calibrator_session = (_session(models["calibrator"], "calibrator")
                                    if self._by_regime and "calibrator" in models else None)

    @classmethod
    def from_ensemble(cls, ensemble: Any) -> CompiledEnsemble:
        """Compile a fitted :class:`~ml_core.ensemble.RegimeForestEnsemble`."""
        return cls(export_onnx(ensemble), serving_spec(ensemble))

    def __repr__(self) -> str:
        return (f"CompiledEnsemble({len(self.feature_names_in_)} features, regime_mode="
                f"{self._mode()!r}, calibration={getattr(self, 'calibration', None)!r})")

    def __getattr__(self, name: str) -> Any:
        # only reached for a missing attribute: say why a learned one is missing
        if name.endswith("_") and not name.startswith("_"):
            raise AttributeError(
                f"'CompiledEnsemble' has no attribute {name!r}: a compiled ensemble serves "
                "predictions only (no forest, table or diagnostic); load the model with "
                "engine='sklearn' to read it")
        raise AttributeError(f"'CompiledEnsemble' object has no attribute {name!r}")

    def _check_ready(self) -> None:
        """Always ready: a compiled ensemble is fitted by construction."""

    def _meta_values(self, values: np.ndarray, components: np.ndarray) -> np.ndarray:
        if self._regime_positions.size == 0:
            return components
        return np.concatenate([components, values[:, self._regime_positions]], axis=1)

    def _evaluate(self, X: pd.DataFrame, *, regimes: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        return self._evaluate_values(self._columns.values(X), regimes=regimes)

    def _evaluate_values(self, values: np.ndarray, *, regimes: bool
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        n = values.shape[0]
        if n == 0:
            return np.empty((0, len(MODEL_NAMES))), np.empty((0, 2)), None
        forest_input = np.ascontiguousarray(values[:, self._forest_positions], dtype=np.float32)
        labels = (dominant_regimes(values, self._dominant_positions)
                  if (self._by_regime or regimes) and self._dominant_positions is not None
                  else None)
        if self._chain is not None:
            feeds = {"X": forest_input}
            if self._regime_positions.size:
                feeds["R"] = values[:, self._regime_positions]
            components, p = self._chain.run(None, feeds)
        else:
            components = self._components_session.run(None, {"X": forest_input})[0]
            p = self._meta(self._meta_values(values, components), labels)
            if self._calibrator_session is not None:
                p = self._calibrator_session.run(None, {"p": p})[0]
        proba = np.empty((n, 2))
        proba[:, 1] = p
        proba[:, 0] = 1.0 - p
        return components, proba, labels

    def _meta(self, M: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """P(take-profit first) of each row by its regime's meta-learner (or the global one)."""
        if labels is None:  # no regime columns to choose by (not with regime_mode "models")
            return self._meta_session.run(None, {"M": M})[0]
        if M.shape[0] == 1:  # the live path: one row, one session
            session = self._regime_sessions.get(labels[0], self._meta_session)
            return session.run(None, {"M": M})[0]
        p = self._meta_session.run(None, {"M": M})[0]
        for label, session in self._regime_sessions.items():
            rows = labels == label
            if rows.any():
                p[rows] = session.run(None, {"M": np.ascontiguousarray(M[rows])})[0]
        return p


# ----------------------------------------------------------------------------- parity

@dataclass(frozen=True)
class EngineParity:
    """How a compiled ensemble's predictions compare with the scikit-learn ensemble's.

    Attributes
    ----------
    n_rows : int
    max_p_long_diff : float
        Max ``|p_long|`` difference (calibrated meta probability).
    max_component_diff : float
        Max difference of the four forest outputs.
    n_near_threshold : int
        Rows whose signal hangs on a value within ``tolerance`` of a decision boundary: the
        probability the rule reads (after any EWMA) near the row's threshold ``t``, ``1 - t``
        (and with hysteresis ``max(t - band, 0.5)`` and its complement), or ``p_exit`` near 0.5.
        Float32 forests may put such a row on the other side.
    n_signal_mismatch : int
        Rows not near a threshold whose signal differs (should be 0).
    n_signal_mismatch_near : int
        Near-threshold rows whose signal differs.
    max_size_diff : float
        Max ``size`` difference over the rows whose signals agree.
    tolerance : float
    """

    n_rows: int
    max_p_long_diff: float
    max_component_diff: float
    n_near_threshold: int
    n_signal_mismatch: int
    n_signal_mismatch_near: int
    max_size_diff: float
    tolerance: float

    def __str__(self) -> str:
        return (f"{self.n_rows} rows: max |p_long diff| {self.max_p_long_diff:.3g}, max |component "
                f"diff| {self.max_component_diff:.3g}, max |size diff| {self.max_size_diff:.3g}; "
                f"{self.n_near_threshold} rows within {self.tolerance:g} of a threshold "
                f"({self.n_signal_mismatch_near} of them flipped), {self.n_signal_mismatch} "
                "other signal mismatches")


def compare_engines(reference: SignalServing, compiled: SignalServing, X: pd.DataFrame,
                    tolerance: float = 1e-5) -> EngineParity:
    """Predict ``X``'s rows (consecutive, in time order) with both engines and compare them.

    Parameters
    ----------
    reference : RegimeForestEnsemble
    compiled : CompiledEnsemble
    X : pandas.DataFrame
        Feature rows, e.g. the final holdout's.
    tolerance : float, default 1e-5
        Distance to a decision boundary under which a row counts as near a threshold.

    Returns
    -------
    EngineParity
    """
    expected, got = reference.predict(X), compiled.predict(X)
    components = reference.predict_components(X).to_numpy()
    component_diff = np.abs(components - compiled.predict_components(X).to_numpy())
    smoother = reference.smoother()
    p = smoother.smooth_probabilities(expected["p_long"].to_numpy())
    t = reference.confidence_thresholds(X)
    bounds = [t, 1.0 - t]
    if smoother.method == "hysteresis":
        floor = np.maximum(t - smoother.band, 0.5)
        bounds += [floor, 1.0 - floor]
    near = np.abs(components[:, _P_EXIT] - 0.5) <= tolerance
    for bound in bounds:
        near |= np.abs(p - bound) <= tolerance
    mismatch = expected["signal"].to_numpy() != got["signal"].to_numpy()
    same = ~mismatch
    size_diff = np.abs(expected["size"].to_numpy() - got["size"].to_numpy())[same]
    return EngineParity(
        n_rows=len(X),
        max_p_long_diff=float(np.abs(expected["p_long"].to_numpy() - got["p_long"].to_numpy())
                            .max(initial=0.0)),
        max_component_diff=float(component_diff.max(initial=0.0)),
        n_near_threshold=int(near.sum()),
        n_signal_mismatch=int((mismatch & ~near).sum()),
        n_signal_mismatch_near=int((mismatch & near).sum()),
        max_size_diff=float(size_diff.max(initial=0.0)),
        tolerance=float(tolerance),
    )
