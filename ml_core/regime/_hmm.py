"""Bull / Bear / Sideways regimes from a 3-state Gaussian HMM, filtered causally."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from ml_core.config import RegimeConfig
from ml_core.data import check_bars
from ml_core.regime._columns import TRANSFORM_COLUMNS
from ml_core.regime._em import em_convergence, fit_report, warm_start_parameters
from ml_core.regime._filter import (
    _logsumexp,
    forward_backward,
    forward_filter,
    gaussian_log_emission,
)
from ml_core.regime._labels import REGIME_LABELS, label_order
from ml_core.regime._observations import OBSERVATION_NAMES, regime_observations

if TYPE_CHECKING:
    from ml_core.regime._stream import RegimeStream

# The package's logger; handlers are the application's business (no configuration here).
_log = logging.getLogger("ml_core.regime")
_N_STATES = len(REGIME_LABELS)
_N_FEATURES = len(OBSERVATION_NAMES)
# Fewer observations than this many per free HMM parameter and the fit is not worth having.
_MIN_OBS_PER_PARAMETER = 10
# Smallest covariance eigenvalue (standardised units, where the data's variance is 1) a state may
# have; below it the state has collapsed onto a handful of points (hmmlearn floors variances at
# min_covar=1e-3, so a collapsed state sits just above that floor).
_MIN_EIGENVALUE = 2e-3
# A state expected to last under two regime bars (self-transition < 0.5) switches on noise; STACK.md
# records a raw-return fit whose third state had a self-transition of 0.016.
_MIN_SELF_TRANSITION = 0.5
_DICT_FORMAT = "regimeforest.RegimeHMM"
_DICT_VERSION = 1
_FITTED_ARRAYS = ("startprob_", "transmat_", "means_", "covars_", "obs_mean_", "obs_scale_")


def _fmt(td: timedelta) -> str:
    """``4h``, ``30min``, ``1d``: a duration as people write it."""
    seconds = int(pd.Timedelta(td).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _n_free_parameters(covariance_type: str) -> int:
    k, d = _N_STATES, _N_FEATURES
    cov = {"full": k * d * (d + 1) // 2, "diag": k * d, "spherical": k}[covariance_type]
    return (k - 1) + k * (k - 1) + k * d + cov


class RegimeHMM(BaseEstimator):
    """3-state Gaussian HMM on regime-scale bars with causal (forward-filtered) regime features.

    The base bars are aggregated to ``timeframe`` bars (:func:`ml_core.data.resample_ohlcv`).
    Each closed regime bar gives the observation ``[log return, log realised volatility over the
    last volatility_window regime bars]``, standardised with the mean and standard deviation of
    the *fit* data only. EM (hmmlearn ``GaussianHMM``) runs from ``n_restarts`` random starts;
    degenerate solutions are rejected (logged on the ``ml_core.regime`` logger) and the best
    remaining log-likelihood is kept; ``fit(bars, init_model=previous)`` adds a warm start from a
    previous fit. States are named Bull / Bear / Sideways by their mean volatility and return
    (:func:`ml_core.regime.label_order`: sideways the calmest, bull / bear the higher / lower
    return of the other two), so every learned array is in ``REGIME_LABELS`` order whatever
    order EM found.

    Features come from the forward filter ``P(s_j | regime bars <= j)`` only; hmmlearn's
    ``predict``/``predict_proba``/``score_samples`` smooth over the whole sequence (look-ahead;
    DESIGN.md section 2) and are never used. :meth:`smoothed_proba` exists for diagnostics.

    Parameters
    ----------
    timeframe : timedelta, default 4h
        Regime bar length; a whole multiple (> 1) of ``base_timeframe``.
    base_timeframe : timedelta, default 30m
        Length of one input bar.
    covariance_type : {"full", "diag", "spherical"}, default "full"
    n_iter : int, default 1000
        EM iteration cap per restart.
    tol : float, default 1e-4
        EM stops when the log-likelihood gains less than this.
    n_restarts : int, default 5
        Random EM starts; the best acceptable one is kept.
    volatility_window : int, default 6
        Regime bars in the realised-volatility observation.
    min_state_occupancy : float, default 0.02
        A fit where some state is the filtered argmax on less than this fraction of the fit bars
        is degenerate. So is one where a state's covariance has an eigenvalue below 2e-3
        (standardised units: a collapsed state) or a self-transition probability below 0.5 (it
        lasts under two bars on average).
    random_state : int, RandomState or None
        Seeds the restarts (each restart gets its own seed drawn from it).

    Attributes
    ----------
    startprob_ : ndarray of shape (3,)
    transmat_ : ndarray of shape (3, 3)
        ``transmat_[i, j] = P(next = j | now = i)`` in label order.
    means_ : ndarray of shape (3, 2)
        Emission means in *standardised* units; raw units are ``obs_mean_ + means_ * obs_scale_``.
    covars_ : ndarray of shape (3, 2, 2)
        Full emission covariances (standardised units) whatever ``covariance_type``.
    obs_mean_, obs_scale_ : ndarray of shape (2,)
        Standardisation of the observations, learned from the fit data.
    log_likelihood_ : float
        Log-likelihood of the fit observations under the kept model.
    n_fit_bars_ : int
        Regime bars (after warm-up) the model was fitted on.
    fit_start_, fit_end_ : pandas.Timestamp
        Availability times of the first and last fit observation (the training window).
    converged_ : bool
        Whether EM of the kept restart really converged: its last log-likelihood change was
        within ``tol`` (hmmlearn's ``monitor_.converged`` also reads True on merely hitting
        ``n_iter``, or after the log-likelihood fell; :func:`~ml_core.regime._em.em_convergence`).
    n_iter_ : int
        EM iterations of the kept restart.
    state_occupancy_ : ndarray of shape (3,)
        Fraction of fit bars where each label is the filtered argmax.
    restarts_ : list of dict
        Per EM start (JSON-safe): ``seed`` (None for the warm start), ``init`` (``"random"`` or
        ``"warm_start"``), ``log_likelihood``, ``converged``, ``n_iter``, ``last_gain`` (last
        log-likelihood change, None under two iterations), ``stop`` (``"tol"``, ``"n_iter"``,
        ``"decrease"`` or ``"too_few"``), ``occupancy`` (None if the restart was rejected
        before it was computed), ``rejected`` (reason or None), ``kept``.
    fit_report_ : pandas.DataFrame
        ``restarts_`` as a table, one row per EM start (a read-only view).

    References
    ----------
    Rabiner, L. R. (1989). A tutorial on hidden Markov models. Proc. IEEE 77(2).
    Hamilton, J. D. (1989). A new approach to the economic analysis of nonstationary time series.
    """

    def __init__(
        self,
        timeframe: timedelta = timedelta(hours=4),
        base_timeframe: timedelta = timedelta(minutes=30),
        covariance_type: str = "full",
        n_iter: int = 1000,
        tol: float = 1e-4,
        n_restarts: int = 5,
        volatility_window: int = 6,
        min_state_occupancy: float = 0.02,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.timeframe = timeframe
        self.base_timeframe = base_timeframe
        self.covariance_type = covariance_type
        self.n_iter = n_iter
        self.tol = tol
        self.n_restarts = n_restarts
        self.volatility_window = volatility_window
        self.min_state_occupancy = min_state_occupancy
        self.random_state = random_state

    @classmethod
    def from_config(
        cls,
        cfg: RegimeConfig,
        base_timeframe: timedelta,
        random_state: int | np.random.RandomState | None = None,
    ) -> RegimeHMM:
        """Build an unfitted model from the ``regime`` section of a profile."""
        return cls(
            timeframe=cfg.timeframe,
            base_timeframe=base_timeframe,
            covariance_type=cfg.covariance_type,
            n_iter=cfg.n_iter,
            tol=cfg.tol,
            n_restarts=cfg.n_restarts,
            volatility_window=cfg.volatility_window,
            min_state_occupancy=cfg.min_state_occupancy,
            random_state=random_state,
        )

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        tf, base = pd.Timedelta(self.timeframe), pd.Timedelta(self.base_timeframe)
        if base <= pd.Timedelta(0):
            raise ValueError(f"`base_timeframe` must be positive, got `base_timeframe={base}`")
        if tf <= base or tf % base:
            raise ValueError(
                f"`timeframe` must be a whole multiple (> 1) of `base_timeframe`, got "
                f"`timeframe={_fmt(tf)}`, `base_timeframe={_fmt(base)}`"
            )
        if self.covariance_type not in ("full", "diag", "spherical"):
            raise ValueError(
                "`covariance_type` must be 'full', 'diag' or 'spherical', got "
                f"`covariance_type={self.covariance_type!r}`"
            )
        for name, minimum in (("n_iter", 1), ("n_restarts", 1), ("volatility_window", 2)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"`{name}` must be an integer >= {minimum}, got `{name}={value}`")
        if not self.tol > 0:
            raise ValueError(f"`tol` must be positive, got `tol={self.tol}`")
        if not 0 <= self.min_state_occupancy < 1 / _N_STATES:
            raise ValueError(
                f"`min_state_occupancy` must be in [0, 1/3), got "
                f"`min_state_occupancy={self.min_state_occupancy}`"
            )

    def _observations(self, bars: pd.DataFrame, fitting: bool) -> pd.DataFrame:
        check_bars(bars, base_timeframe=pd.Timedelta(self.base_timeframe).to_pytimedelta())
        return regime_observations(
            bars,
            pd.Timedelta(self.timeframe).to_pytimedelta(),
            pd.Timedelta(self.base_timeframe).to_pytimedelta(),
            self.volatility_window,
            floor_volatility=not fitting,
        )

    def _segment_observations(
        self, bars: pd.DataFrame | Sequence[pd.DataFrame]
    ) -> tuple[pd.DataFrame, list[int], int]:
        """Fit observations of ``bars`` (one frame or time-ordered disjoint segments): the
        segments' observations stacked, the valid (post-warm-up) rows per segment that has any,
        and the number of base bars."""
        segments = [bars] if isinstance(bars, pd.DataFrame) else list(bars)
        if not segments:
            raise ValueError("`bars` must be a DataFrame or a non-empty sequence of them, got 0 "
                             "segments")
        for i in range(1, len(segments)):
            before, after = segments[i - 1], segments[i]
            if len(before) and len(after) and after.index[0] <= before.index[-1]:
                raise ValueError(
                    f"`bars` segments must be in time order without overlap, got segment {i} "
                    f"starting at {after.index[0]}, not after segment {i - 1} ends at "
                    f"{before.index[-1]}"
                )
        parts = [self._observations(segment, fitting=True) for segment in segments]
        lengths = [int(part.notna().all(axis=1).sum()) for part in parts]
        return pd.concat(parts), [n for n in lengths if n], sum(len(seg) for seg in segments)

    # ------------------------------------------------------------------ fitting
    def fit(
        self, bars: pd.DataFrame | Sequence[pd.DataFrame], y: None = None,
        init_model: RegimeHMM | None = None,
    ) -> RegimeHMM:
        """Fit the HMM on ``bars`` (base bars, canonical schema).

        Leakage: everything learned here (standardisation included) comes from ``bars``; pass the
        training window only.

        Parameters
        ----------
        bars : pandas.DataFrame or sequence of pandas.DataFrame
            Base bars ``base_timeframe`` apart (or more, where bars are missing); or several
            contiguous segments of them, in time order without overlap (e.g. the training
            groups of a cross-validation split). Each segment gives its own observations (its own
            warm-up, no return or volatility across the gap between segments); the
            standardisation is pooled and EM treats the segments as independent sequences
            (hmmlearn's ``lengths``), each starting from ``startprob_``.
        y : None
            Ignored (scikit-learn convention).
        init_model : RegimeHMM, optional
            A fitted model (e.g. last week's) whose parameters start one extra EM run, besides
            the ``n_restarts`` random ones; what a periodic retrain does. Its parameters are
            carried over into this fit's standardisation
            (:func:`~ml_core.regime._em.warm_start_parameters`). It must share ``timeframe``,
            ``base_timeframe`` and ``volatility_window``. The random restarts are the same with
            or without it, and the best acceptable log-likelihood is kept as always.

        Raises
        ------
        ValueError
            On NaN/inf/non-positive prices, constant prices, bars closer than
            ``base_timeframe``, too few bars (the message says how many there are and how many
            are needed), an incompatible ``init_model``, or when every restart is degenerate.
        """
        from hmmlearn.hmm import GaussianHMM

        self._check_params()
        obs, lengths, n_rows = self._segment_observations(bars)
        close = (bars if isinstance(bars, pd.DataFrame) else pd.concat(list(bars)))["close"]
        close = close.to_numpy(dtype="float64")
        if close.size and np.ptp(close) == 0:
            raise ValueError(
                f"`bars` close prices are constant ({close[0]}); returns and volatility have no "
                "variation to find regimes in"
            )
        valid = obs.notna().all(axis=1)
        if np.isneginf(obs.to_numpy()).any():
            at = obs.index[np.isneginf(obs.to_numpy()).any(axis=1)][0]
            raise ValueError(
                f"`bars` close is unchanged over {self.volatility_window} regime bars ending at "
                f"{at}: the log realised volatility is -inf there; fit on data without frozen "
                "prices"
            )
        n_free = _n_free_parameters(self.covariance_type)
        n_needed = _MIN_OBS_PER_PARAMETER * n_free
        n_obs = int(valid.sum())
        if n_obs < n_needed:
            per_bin = int(pd.Timedelta(self.timeframe) / pd.Timedelta(self.base_timeframe))
            bars_needed = (n_needed + self.volatility_window + 1) * per_bin
            raise ValueError(
                f"too few bars to fit: `bars` has {n_rows} rows giving {n_obs} usable "
                f"{_fmt(self.timeframe)} regime observations; a {self.covariance_type}-"
                f"covariance 3-state HMM ({n_free} parameters) needs at least {n_needed}, i.e. "
                f"about {bars_needed} bars of {_fmt(self.base_timeframe)} "
                f"(including the {self.volatility_window + 1}-regime-bar warm-up)"
            )
        raw = obs[valid].to_numpy(dtype="float64")
        obs_mean = raw.mean(axis=0)
        obs_scale = raw.std(axis=0)
        if (obs_scale <= 1e-12 * np.maximum(1.0, np.abs(obs_mean))).any():
            name = OBSERVATION_NAMES[int(np.argmin(obs_scale))]
            raise ValueError(f"observation {name!r} is constant on `bars`; nothing to fit")
        X = (raw - obs_mean) / obs_scale
        warm = None
        if init_model is not None:
            self._check_init_model(init_model)
            warm = warm_start_parameters(init_model, obs_mean, obs_scale, self.covariance_type)

        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_restarts)
        starts: list[tuple[int | None, dict[str, np.ndarray] | None]] = [
            (int(seed), None) for seed in seeds
        ]
        if warm is not None:
            starts.append((None, warm))
        candidates: list[dict[str, Any]] = []
        for seed, params in starts:
            model = GaussianHMM(
                n_components=_N_STATES,
                covariance_type=self.covariance_type,
                n_iter=self.n_iter,
                tol=self.tol,
                random_state=0 if seed is None else seed,
                params="stmc",
                init_params="stmc" if params is None else "",
            )
            for name, value in (params or {}).items():
                setattr(model, name, value)
            # One thread: on a few thousand rows the k-means initialisation's OpenMP threads only
            # add overhead, and on a busy machine they oversubscribe it (measured 1.8 s vs 4-7 s
            # for 5 restarts on the bundled sample at 4h).
            with warnings.catch_warnings(), threadpool_limits(limits=1):
                warnings.simplefilter("ignore", RuntimeWarning)
                model.fit(X, lengths)
            candidate = self._assess(model, X, seed, lengths)
            candidate["init"] = "random" if params is None else "warm_start"
            candidates.append(candidate)
            start = f"seed {seed}" if seed is not None else "warm start"
            if candidate["rejected"] is not None:
                _log.info("HMM restart %d/%d (%s) rejected as degenerate: %s", len(candidates),
                          len(starts), start, candidate["rejected"])
            else:
                _log.debug("HMM restart %d/%d (%s): log-likelihood %.3f, %d EM iterations, %s",
                           len(candidates), len(starts), start, candidate["log_likelihood"],
                           candidate["n_iter"], "converged" if candidate["converged"]
                           else f"not converged ({candidate['stop']})")

        acceptable = [c for c in candidates if c["rejected"] is None]
        if not acceptable:
            reasons = "; ".join(
                f"{'seed ' + str(c['seed']) if c['seed'] is not None else 'warm start'}: "
                f"{c['rejected']}" for c in candidates
            )
            raise ValueError(
                f"all {len(candidates)} HMM restarts are degenerate ({reasons}); try more "
                "`n_restarts`, a longer training window, a longer `timeframe` or a lower "
                "`min_state_occupancy`"
            )
        best = max(acceptable, key=lambda c: c["log_likelihood"])
        best["kept"] = True
        self.startprob_ = best["startprob"]
        self.transmat_ = best["transmat"]
        self.means_ = best["means"]
        self.covars_ = best["covars"]
        self.obs_mean_ = obs_mean
        self.obs_scale_ = obs_scale
        self.log_likelihood_ = float(best["log_likelihood"])
        self.converged_ = bool(best["converged"])
        self.n_iter_ = int(best["n_iter"])
        self.state_occupancy_ = np.asarray(best["occupancy"])
        self.n_fit_bars_ = n_obs
        self.fit_start_ = obs.index[valid][0]
        self.fit_end_ = obs.index[valid][-1]
        # JSON-safe: None, not NaN, where not computed (NaN is not JSON and NaN != NaN)
        self.restarts_ = [
            {k: c[k] for k in ("seed", "init", "log_likelihood", "converged", "n_iter", "stop",
                               "rejected", "kept")}
            | {"last_gain": None if np.isnan(c["last_gain"]) else float(c["last_gain"]),
               "occupancy": None if np.isnan(c["occupancy"]).any()
               else [float(v) for v in c["occupancy"]]}
            for c in candidates
        ]
        kept = f"seed {best['seed']}" if best["seed"] is not None else "the warm start"
        _log.info(
            "HMM fitted on %d %s regime bars (%s to %s): kept %s of %d restarts (%d rejected as "
            "degenerate), log-likelihood %.3f, %d EM iterations, %s", n_obs,
            _fmt(self.timeframe), self.fit_start_, self.fit_end_, kept, len(candidates),
            len(candidates) - len(acceptable), self.log_likelihood_, self.n_iter_,
            "converged" if self.converged_ else f"NOT converged ({best['stop']})",
        )
        if not self.converged_:
            message = (
                f"the kept HMM restart ({kept}) did not converge within `n_iter={self.n_iter}` "
                f"iterations (`tol={self.tol}`; last log-likelihood change "
                f"{best['last_gain']:.3g}, {best['stop']}); raise `n_iter`"
            )
            _log.warning(message)
            warnings.warn(message, ConvergenceWarning, stacklevel=2)
        return self

    def _check_init_model(self, init_model: RegimeHMM) -> None:
        """A warm start must come from a fitted model of the same observations."""
        if not isinstance(init_model, RegimeHMM):
            raise TypeError(
                f"`init_model` must be a fitted RegimeHMM, got {type(init_model).__name__}"
            )
        check_is_fitted(init_model, _FITTED_ARRAYS)
        same = {
            "timeframe": pd.Timedelta(self.timeframe) == pd.Timedelta(init_model.timeframe),
            "base_timeframe": pd.Timedelta(self.base_timeframe)
            == pd.Timedelta(init_model.base_timeframe),
            "volatility_window": self.volatility_window == init_model.volatility_window,
        }
        for name, ok in same.items():
            if not ok:
                raise ValueError(
                    f"`init_model` must have this model's `{name}` (its observations differ "
                    f"otherwise), got `{name}={getattr(init_model, name)}` for "
                    f"`{name}={getattr(self, name)}`"
                )

    def _assess(self, model: Any, X: np.ndarray, seed: int | None,
                lengths: list[int] | None = None) -> dict[str, Any]:
        """Relabel one EM solution (fitted on the sequences of ``lengths`` rows stacked in ``X``;
        None: one sequence) and decide whether it is acceptable."""
        lengths = [len(X)] if lengths is None else lengths
        converged, last_gain, stop = em_convergence(model.monitor_, self.tol)
        perm = label_order(model.means_)
        startprob = np.asarray(model.startprob_)[perm]
        transmat = np.asarray(model.transmat_)[np.ix_(perm, perm)]
        means = np.asarray(model.means_)[perm]
        covars = np.asarray(model.covars_)[perm]
        out: dict[str, Any] = {
            "seed": seed,
            "log_likelihood": float(model.score(X, lengths)),
            "converged": bool(converged),
            "last_gain": last_gain,
            "stop": stop,
            "n_iter": int(model.monitor_.iter),
            "startprob": startprob,
            "transmat": transmat,
            "means": means,
            "covars": covars,
            "rejected": None,
            "kept": False,
            "occupancy": np.full(_N_STATES, np.nan),
        }
        finite = all(np.isfinite(a).all() for a in (startprob, transmat, means, covars))
        if not finite or not np.isfinite(out["log_likelihood"]):
            out["rejected"] = "non-finite parameters"
            return out
        min_eig = np.linalg.eigvalsh(covars).min(axis=1)
        if (min_eig < _MIN_EIGENVALUE).any():
            k = int(np.argmin(min_eig))
            out["rejected"] = (
                f"state {REGIME_LABELS[k]!r} has near-zero variance (smallest covariance "
                f"eigenvalue {min_eig[k]:.2e} < {_MIN_EIGENVALUE:g} in standardised units)"
            )
            return out
        p_stay = np.diag(transmat)
        if (p_stay < _MIN_SELF_TRANSITION).any():
            k = int(np.argmin(p_stay))
            out["rejected"] = (
                f"state {REGIME_LABELS[k]!r} has self-transition probability {p_stay[k]:.3f} "
                f"< {_MIN_SELF_TRANSITION} (expected duration under 2 bars: noise, not a regime)"
            )
            return out
        log_em = gaussian_log_emission(X, means, covars)
        ends = np.cumsum(lengths)
        proba = np.vstack([forward_filter(log_em[end - n:end], startprob, transmat)
                           for n, end in zip(lengths, ends, strict=True)])
        occupancy = np.bincount(proba.argmax(axis=1), minlength=_N_STATES) / len(X)
        out["occupancy"] = occupancy
        if (occupancy < self.min_state_occupancy).any():
            k = int(np.argmin(occupancy))
            out["rejected"] = (
                f"state {REGIME_LABELS[k]!r} holds {occupancy[k]:.4f} of the bars "
                f"< `min_state_occupancy={self.min_state_occupancy}`"
            )
        return out

    @property
    def fit_report_(self) -> pd.DataFrame:
        """Per EM start: ``seed``, ``init``, ``log_likelihood``, ``n_iter``, ``converged``,
        ``last_gain``, ``stop``, ``rejected`` (reason or None), ``kept`` and the filtered-argmax
        ``occupancy_<label>`` of each state (NaN where not computed)."""
        check_is_fitted(self, "restarts_")
        return fit_report(self.restarts_)

    # ------------------------------------------------------------------ inference
    def _standardised(self, bars: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        check_is_fitted(self, _FITTED_ARRAYS)
        obs = self._observations(bars, fitting=False)
        valid = obs.notna().all(axis=1).to_numpy()
        if valid.any() and not valid[np.argmax(valid):].all():
            raise ValueError("regime observations have NaN after the warm-up")  # cannot happen
        X = (obs.to_numpy(dtype="float64")[valid] - self.obs_mean_) / self.obs_scale_
        return obs, X

    def _filter(self, bars: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Raw observations, per-state log emissions and filtered probabilities (valid rows)."""
        obs, X = self._standardised(bars)
        if not len(X):
            return obs, np.empty((0, _N_STATES)), np.empty((0, _N_STATES))
        log_em = gaussian_log_emission(X, self.means_, self.covars_)
        return obs, log_em, forward_filter(log_em, self.startprob_, self.transmat_)

    def filter_proba(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Forward-filtered ``P(regime_j | regime bars <= j)`` per closed regime bar.

        The filter starts at the first regime bar past the warm-up of ``bars`` (with
        ``startprob_``); warm-up rows are NaN. The still-open last bin is left out.

        Returns
        -------
        pandas.DataFrame
            Index ``available_at`` (the regime bar's availability time, as in
            :func:`ml_core.data.resample_ohlcv`), columns ``REGIME_LABELS``.
        """
        obs, _, proba = self._filter(bars)
        out = np.full((len(obs), _N_STATES), np.nan)
        out[len(obs) - len(proba):] = proba
        return pd.DataFrame(out, index=obs.index, columns=list(REGIME_LABELS))

    def smoothed_proba(self, bars: pd.DataFrame) -> pd.DataFrame:
        """DIAGNOSTIC ONLY: forward-backward ``P(regime_j | all regime bars)``: uses the future.

        For plots and for judging a fit, never for features, labels or signals. Same layout as
        :meth:`filter_proba`.
        """
        obs, X = self._standardised(bars)
        out = np.full((len(obs), _N_STATES), np.nan)
        if len(X):
            log_em = gaussian_log_emission(X, self.means_, self.covars_)
            out[len(obs) - len(X):] = forward_backward(log_em, self.startprob_, self.transmat_)
        return pd.DataFrame(out, index=obs.index, columns=list(REGIME_LABELS))

    def state_log_vol(self) -> np.ndarray:
        """Mean of the ``log_realised_vol`` observation per state, in raw (log) units.

        ``obs_mean_[1] + means_[:, 1] * obs_scale_[1]``: the Gaussian emission's centre undone
        from the standardisation. As the emission of log volatility is Gaussian, ``exp`` of it is
        the *median* realised volatility the fitted HMM expects in that state.

        Returns
        -------
        ndarray of shape (3,)
            In ``REGIME_LABELS`` order.
        """
        check_is_fitted(self, _FITTED_ARRAYS)
        k = OBSERVATION_NAMES.index("log_realised_vol")
        return np.asarray(self.obs_mean_[k] + self.means_[:, k] * self.obs_scale_[k])

    def regime_features(self, bars: pd.DataFrame) -> pd.DataFrame:
        """The :meth:`transform` columns per closed regime bar (index ``available_at``).

        Row ``j`` depends on regime bars ``<= j`` only; the warm-up rows are NaN.
        """
        obs, log_em, proba = self._filter(bars)
        n_obs, n = len(obs), len(proba)
        out = np.full((n_obs, len(TRANSFORM_COLUMNS)), np.nan)
        if n:
            p_stay = np.diag(self.transmat_)
            s = proba.argmax(axis=1)
            changed = np.r_[True, s[1:] != s[:-1]]
            run_start = np.maximum.accumulate(np.where(changed, np.arange(n), 0))
            with np.errstate(divide="ignore", invalid="ignore"):
                plogp = np.where(proba > 0, proba * np.log(proba), 0.0)
                expected_duration = 1.0 / (1.0 - p_stay[s])
                # one-step predictive density of observation j given j-1..0 (Hamilton 1989)
                pred = np.vstack([self.startprob_[None, :], proba[:-1] @ self.transmat_])
                log_predictive = _logsumexp(np.log(pred) + log_em, axis=1)
            log_vol = obs["log_realised_vol"].to_numpy(dtype="float64")[n_obs - n:]
            out[n_obs - n:] = np.column_stack([
                proba,
                s,
                np.arange(n) - run_start,
                1.0 - p_stay[s],
                proba.max(axis=1),
                -plogp.sum(axis=1) / np.log(_N_STATES),
                np.exp(log_vol - self.state_log_vol()[s]),
                expected_duration,
                -log_predictive,
            ])
        return pd.DataFrame(out, index=obs.index, columns=list(TRANSFORM_COLUMNS))

    def transform(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Causal regime features on the base bars.

        A regime bar's values reach base bar ``t`` only once its bin has closed (its availability
        time ``<= t``); each base bar carries the latest closed regime bar's values, NaN before the
        first one past the warm-up. So row ``t`` depends on ``bars`` rows ``<= t`` only (and on the
        fitted parameters). :class:`~ml_core.regime.RegimeStream` (:meth:`stream`) computes the
        same rows one bar at a time.

        Returns
        -------
        pandas.DataFrame
            Index ``bars.index``; columns :data:`~ml_core.regime.TRANSFORM_COLUMNS`, i.e., with
            ``p`` the filtered probabilities of the latest closed regime bar and ``s`` their
            argmax:

            * ``regime_prob_bull``, ``regime_prob_bear``, ``regime_prob_sideways``: ``p``,
              summing to one;
            * ``regime_state``: ``s`` as float (0 bull, 1 bear, 2 sideways);
            * ``regime_duration``: regime bars since the argmax last changed (0 on the regime
              bar where it changed; the first filtered bar counts as a change);
            * ``regime_transition_prob``: ``1 - transmat_[s, s]``, the model's probability of
              leaving ``s`` at the next regime bar;
            * ``regime_confidence``: ``max(p)``, in [1/3, 1];
            * ``regime_entropy``: ``-sum(p * log p) / log 3``, the entropy in nats normalised
              to [0, 1] (0: one regime certain; 1: all three equally likely);
            * ``regime_conditional_vol``: ``exp(v - m_s)`` with ``v`` the latest
              ``log_realised_vol`` observation (floored as in :meth:`filter_proba`) and ``m_s``
              the state's emission mean of it un-standardised (:meth:`state_log_vol`): the
              latest realised volatility over the median volatility the HMM expects in ``s``;
            * ``regime_expected_duration``: ``1 / (1 - transmat_[s, s])``, the mean length of a
              visit to ``s`` in regime bars (the geometric sojourn of a Markov chain; ``inf`` for
              an absorbing state); a function of ``s`` like ``regime_transition_prob``;
            * ``regime_surprise``: ``-log p(x_j | x_0..x_{j-1})``, the negative log one-step
              predictive density of the latest standardised observation ``x_j`` (the filter's
              normaliser, Hamilton 1989): high on a bar that none of the expected regimes
              explains, a hint of a regime break.
        """
        features = self.regime_features(bars)
        out = features.reindex(bars.index, method="ffill") if len(features) else features.reindex(
            bars.index
        )
        out.index.name = bars.index.name
        return out

    def stream(self, base_timeframe: timedelta | None = None) -> RegimeStream:
        """A :class:`~ml_core.regime.RegimeStream` that updates :meth:`transform`'s columns one
        base bar at a time (``base_timeframe`` defaults to, and must equal, the model's)."""
        from ml_core.regime._stream import RegimeStream

        return RegimeStream(self, base_timeframe)

    def fit_transform(self, bars: pd.DataFrame, y: None = None) -> pd.DataFrame:
        """``fit(bars).transform(bars)``: in-sample features, causal given the fitted model."""
        return self.fit(bars).transform(bars)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """All parameters and fitted values as JSON-safe builtins (no pickle)."""
        check_is_fitted(self, _FITTED_ARRAYS)
        params = self.get_params()
        params["timeframe"] = pd.Timedelta(self.timeframe).total_seconds()
        params["base_timeframe"] = pd.Timedelta(self.base_timeframe).total_seconds()
        if not isinstance(params["random_state"], (int, np.integer, type(None))):
            params["random_state"] = None
        elif params["random_state"] is not None:
            params["random_state"] = int(params["random_state"])
        return {
            "format": _DICT_FORMAT,
            "version": _DICT_VERSION,
            "labels": list(REGIME_LABELS),
            "observations": list(OBSERVATION_NAMES),
            "params": params,
            "fitted": {
                **{name: np.asarray(getattr(self, name)).tolist() for name in _FITTED_ARRAYS},
                "state_occupancy_": np.asarray(self.state_occupancy_).tolist(),
                "log_likelihood_": float(self.log_likelihood_),
                "converged_": bool(self.converged_),
                "n_iter_": int(self.n_iter_),
                "n_fit_bars_": int(self.n_fit_bars_),
                "fit_start_": pd.Timestamp(self.fit_start_).isoformat(),
                "fit_end_": pd.Timestamp(self.fit_end_).isoformat(),
                "restarts_": self.restarts_,
            },
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegimeHMM:
        """Rebuild a fitted model from :meth:`to_dict` output (e.g. after ``json.loads``)."""
        if d.get("format") != _DICT_FORMAT or d.get("version") != _DICT_VERSION:
            raise ValueError(
                f"not a {_DICT_FORMAT} v{_DICT_VERSION} dict, got format={d.get('format')!r}, "
                f"version={d.get('version')!r}"
            )
        if list(d["labels"]) != list(REGIME_LABELS):
            raise ValueError(f"labels must be {list(REGIME_LABELS)}, got {d['labels']}")
        params = dict(d["params"])
        params["timeframe"] = timedelta(seconds=params["timeframe"])
        params["base_timeframe"] = timedelta(seconds=params["base_timeframe"])
        model = cls(**params)
        fitted = d["fitted"]
        for name in (*_FITTED_ARRAYS, "state_occupancy_"):
            setattr(model, name, np.asarray(fitted[name], dtype="float64"))
        model.log_likelihood_ = float(fitted["log_likelihood_"])
        model.converged_ = bool(fitted["converged_"])
        model.n_iter_ = int(fitted["n_iter_"])
        model.n_fit_bars_ = int(fitted["n_fit_bars_"])
        model.fit_start_ = pd.Timestamp(fitted["fit_start_"])
        model.fit_end_ = pd.Timestamp(fitted["fit_end_"])
        model.restarts_ = list(fitted["restarts_"])
        return model
