"""The fitted pipeline: features + filtered regimes + ensemble, and its pickle-free persistence.

:class:`RegimeForestPipeline` is what a registered model version holds and what the live predictor
and ``regimeforest features --model`` apply: fitted state only (HMM parameters, forests,
meta-learner), never refitted at prediction time; loaded, it serves with onnxruntime (the
ensemble compiled to ONNX at save) or with scikit-learn (``load_pipeline(..., engine=...)``).
"""

from ml_core.pipeline._catalogue import feature_catalogue
from ml_core.pipeline._dataset import TrainingSet, assemble_training_set
from ml_core.pipeline._holdout import holdout_start, split_holdout
from ml_core.pipeline._persistence import (ENGINES, ModelIntegrityError, load_pipeline,
                                           save_pipeline)
from ml_core.pipeline._pipeline import RegimeForestPipeline
from ml_core.pipeline._stream import BarRejected, LiveSignal, PipelineStream

__all__ = [
    "ENGINES",
    "BarRejected",
    "LiveSignal",
    "ModelIntegrityError",
    "PipelineStream",
    "RegimeForestPipeline",
    "TrainingSet",
    "assemble_training_set",
    "feature_catalogue",
    "holdout_start",
    "load_pipeline",
    "save_pipeline",
    "split_holdout",
]
