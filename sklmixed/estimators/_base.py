"""What the scikit-learn estimators share: the fit template, the fitted attributes, prediction.

``fit`` is one template for the three estimators: check the hyper-parameters
(:func:`~sklmixed.estimators._params.validate_params`), check and lay out the data
(:func:`~sklmixed.estimators._layout.fit_layout`), build the core's terms, fit the core
model (or, without groups, the fixed effects alone), and set the fitted attributes. An
estimator supplies the steps that differ: how the target is coded, how the terms are
checked, and the two fits. ``predict`` encodes new rows with the layout kept from ``fit``
and evaluates the core model's linear predictor.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _check_sample_weight

from ..formula.parse import MixedFormula
from ..formula.partitioned import is_dask_collection
from ..models.prediction import prediction_se
from ..terms.feterm import FeTerm
from ._coefficients import coef_misalignment
from ._groups import check_new_levels, check_no_groups, warn_no_random_effects
from ._layout import check_no_missing, feature_names, fit_layout, group_positions, validate_X
from ._params import NEW_LEVELS, validate_params
from ._partitioned import fit_partitioned
from ._predictor import DroppedModel, FittedEffects

__all__ = []


class _MixedModelEstimator(BaseEstimator):
    """Shared machinery of the mixed-model estimators (not a public class)."""

    # ``groups`` is requested by default, as scikit-learn's group splitters do, so that
    # with metadata routing one ``groups`` array reaches both the splitter and the model.
    __metadata_request__fit: ClassVar[dict] = {"groups": True}
    __metadata_request__predict: ClassVar[dict] = {"groups": True}
    __metadata_request__score: ClassVar[dict] = {"groups": True}

    _y_numeric = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------------ steps an estimator supplies
    def _encode_target(self, y, sample_weight, params):
        """The response as the core model takes it (floats), the weights (None: all 1), and attributes
        to set once fit."""
        raise NotImplementedError

    def _check_terms(self, params, reterms) -> None:
        """Check the parameters that depend on the random-effects terms (none by default)."""

    def _fit_model(self, y, feterm, reterms, weights, params, formula):
        """Build and fit the core model; return it and attributes to set."""
        raise NotImplementedError

    def _fit_fixed(self, y, feterm, weights, params):
        """Fit the fixed effects alone (no groups); return β and attributes to set (``objective_`` among
        them: the criterion the mixed model's fit would have at θ = 0)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the template
    def _fit(self, X, y, groups, sample_weight):
        if is_dask_collection(X):  # out of core, through the formula interface
            return fit_partitioned(self, X, y, groups, sample_weight)
        params = validate_params(self)
        y_name = getattr(y, "name", None)
        group_pos = group_positions(X, params["group_columns"])
        X_arr, y, numeric = validate_X(self, X, y, reset=True, y_numeric=self._y_numeric, group_pos=group_pos)
        sw = None
        if sample_weight is not None:
            check_no_missing(sample_weight, "sample_weight")
            sw = _check_sample_weight(sample_weight, X_arr, dtype=np.float64, ensure_non_negative=True)
        layout, gcols = fit_layout(X, X_arr, numeric, groups, group_pos, feature_names(X), params)
        y, sw, fitted = self._encode_target(y, sw, params)
        encoded = layout.encode(X, X_arr)
        if sw is not None and not np.all(sw > 0):  # zero weights do not enter the likelihood
            rows = sw > 0
            encoded = [None if e is None else e[rows] for e in encoded]
            gcols = None if gcols is None else [g[rows] for g in gcols]
            y, sw = y[rows], sw[rows]
        n = len(y)
        feterm = FeTerm(layout.fixed.matrix(encoded, n), layout.fixed.names)
        reterms = [] if gcols is None else layout.remats(encoded, gcols, n)
        self._check_terms(params, reterms)
        if gcols is None and params["group_columns"] is None:
            warn_no_random_effects(params["random_slopes"])
        if reterms:
            response = y_name if isinstance(y_name, str) and y_name else "y"
            text, fixed = layout.display_formula(response, params["fit_intercept"])
            model, extra = self._fit_model(y, feterm, reterms, sw, params, MixedFormula(text, response, fixed, ()))
            # the model orders its terms by size: remember which grouping factor each one is
            layout.term_factor = [next(k for k, r in enumerate(reterms) if r is t) for t in model.reterms]
            beta = model.beta
        else:
            model = None
            beta, extra = self._fit_fixed(y, feterm, sw, params)
        layout.keep = feterm.keep
        self._layout = layout
        self._set_fixed_effects(feterm, beta, params["fit_intercept"])
        self._set_random_effects(model)
        for name, value in {**fitted, **extra}.items():
            setattr(self, name, value)
        return self

    @staticmethod
    def _configure_optsum(optsum, params, units):
        """Install the optimizer hyper-parameters on a core model's OptSummary.

        ``units`` scales ``xtol_abs`` per parameter (the core's units of θ for covariates on
        huge or tiny scales).
        """
        optsum.optimizer = params["optimizer"]
        optsum.ftol_rel = params["ftol_rel"]
        optsum.ftol_abs = params["ftol_abs"]
        optsum.xtol_abs = params["xtol_abs"] * np.asarray(units, dtype=float)
        optsum.maxfeval = params["maxfeval"]
        optsum.maxtime = params["maxtime"]

    # ------------------------------------------------------------------ fitted attributes
    def _set_fixed_effects(self, feterm, beta, fit_intercept):
        """``beta_``, ``intercept_``, ``coef_names_``, ``fixed_effects_`` and ``coef_`` (when it lines up with X)
        from full-rank estimates; the fit's layout is set."""
        self.beta_ = np.asarray(beta, dtype=float).copy()
        full = np.zeros(len(feterm.names))
        full[feterm.keep] = self.beta_
        names = np.asarray(feterm.names, dtype=object)
        if fit_intercept:
            self.intercept_ = float(full[0])
            coef, self.coef_names_ = full[1:], names[1:]
        else:
            self.intercept_ = 0.0
            coef, self.coef_names_ = full, names
        self.fixed_effects_ = pd.Series(coef.copy(), index=pd.Index(self.coef_names_, dtype=object))
        self._coef, self._coef_problem = coef, coef_misalignment(self._layout)

    @property
    def coef_(self):
        """The coefficients as scikit-learn reads them: entry ``j`` for column ``j`` of X (see the class's
        Attributes); an ``AttributeError`` saying why when they do not line up with X."""
        state = self.__dict__
        if "_coef" not in state:  # not fitted
            raise AttributeError(f"{type(self).__name__!r} object has no attribute 'coef_'")
        if state["_coef_problem"] is not None:
            raise AttributeError(state["_coef_problem"])
        return state["_coef"]

    def _set_random_effects(self, model):
        """``model_``, ``theta_``, ``ranef_``, ``optsum_``, the optimizer's results, and what predict needs."""
        self.model_ = model
        if model is None:
            self.theta_ = np.zeros(0)
            self.ranef_ = {}
            self.optsum_ = None
            self._effects = None
            return
        self.theta_ = np.asarray(model.theta, dtype=float).copy()
        self.optsum_ = optsum = model.optsum
        self.ranef_ = model.ranef()
        self._effects = FittedEffects(model)
        stages = [optsum] + ([optsum.prefit] if optsum.prefit is not None else [])
        self.n_iter_ = int(sum(stage.feval for stage in stages))
        self.converged_ = all(stage.converged for stage in stages) and bool(getattr(model, "pirls_converged", True))
        self.objective_ = float(model.objective)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        """The estimator's state, without the core model unless ``keep_model`` (see :mod:`._predictor`)."""
        state = dict(super().__getstate__())
        if not getattr(self, "keep_model", True) and state.get("model_") is not None:
            state["model_"] = DroppedModel()
        return state

    def __copy__(self):
        """A copy in memory keeps everything, the core model included (pickles leave it out)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo):
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    # ------------------------------------------------------------------ prediction
    def _linear_predictor(self, X, groups, return_std=False):
        """``Xβ`` plus the conditional modes of the levels seen in fitting, as ``new_levels`` says (and,
        with ``return_std``, the standard errors of that prediction)."""
        layout = self._layout
        X_arr, _, _ = validate_X(self, X, reset=False, numeric=layout.numeric, group_pos=layout.group_pos)
        m = X_arr.shape[0]
        encoded = layout.encode(X, X_arr)
        Xf = layout.fixed.matrix(encoded, m)
        gcols = layout.group_values(X, X_arr, groups)
        effects = self._effects
        if return_std and effects is None:
            raise ValueError("return_std needs a model with random effects; this estimator was fit without groups")
        if effects is None:
            return Xf[:, layout.keep] @ self.beta_
        policy = self._new_levels()
        if gcols is None:
            check_no_groups(policy, layout.group_names)
            pred = Xf[:, layout.keep] @ self.beta_
            return (pred, prediction_se(self.model_, Xf)) if return_std else pred
        codes, z = layout.random_parts(effects.reterms, encoded, gcols, m)
        check_new_levels(policy, [r.name for r in effects.reterms], [gcols[k] for k in layout.term_factor], codes)
        # missing labels and (by now accepted) unseen levels take the population value
        pred = effects.linear_predictor(Xf, codes, z, new_levels="population")
        # the standard errors need the whole model: a lean pickle's model_ says how to keep it
        return (pred, prediction_se(self.model_, Xf, codes, z)) if return_std else pred

    def _new_levels(self) -> str:
        # read at predict time: set_params(new_levels=...) applies to a fitted estimator
        policy = getattr(self, "new_levels", "warn")
        if policy not in NEW_LEVELS:
            raise ValueError(f"new_levels must be one of {list(NEW_LEVELS)}, got {policy!r}")
        return policy
