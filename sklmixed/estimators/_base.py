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

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _check_sample_weight

from ..formula.parse import MixedFormula
from ..models.prediction import prediction_se
from ..terms.feterm import FeTerm
from ._layout import check_no_missing, fit_layout, validate_X
from ._params import validate_params

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
        """The response as the core model takes it (floats), and attributes to set once fit."""
        raise NotImplementedError

    def _check_terms(self, params, reterms) -> None:
        """Check the parameters that depend on the random-effects terms (none by default)."""

    def _fit_model(self, y, feterm, reterms, weights, params, formula):
        """Build and fit the core model; return it and attributes to set."""
        raise NotImplementedError

    def _fit_fixed(self, y, feterm, weights, params):
        """Fit the fixed effects alone (no groups); return β and attributes to set."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the template
    def _fit(self, X, y, groups, sample_weight):
        params = validate_params(self)
        y_name = getattr(y, "name", None)
        X_arr, y, numeric = validate_X(self, X, y, reset=True, y_numeric=self._y_numeric)
        sw = None
        if sample_weight is not None:
            check_no_missing(sample_weight, "sample_weight")
            sw = _check_sample_weight(sample_weight, X_arr, dtype=np.float64, ensure_non_negative=True)
        layout, gcols = fit_layout(X, X_arr, numeric, groups, getattr(self, "feature_names_in_", None), params)
        y, fitted = self._encode_target(y, sw, params)
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
        """``beta_``, ``coef_``, ``intercept_`` and ``coef_names_`` from full-rank estimates."""
        self.beta_ = np.asarray(beta, dtype=float).copy()
        full = np.zeros(len(feterm.names))
        full[feterm.keep] = self.beta_
        names = np.asarray(feterm.names, dtype=object)
        if fit_intercept:
            self.intercept_ = float(full[0])
            self.coef_, self.coef_names_ = full[1:], names[1:]
        else:
            self.intercept_ = 0.0
            self.coef_, self.coef_names_ = full, names

    def _set_random_effects(self, model):
        self.model_ = model
        if model is None:
            self.theta_ = np.zeros(0)
            self.ranef_ = {}
            self.optsum_ = None
            return
        self.theta_ = np.asarray(model.theta, dtype=float).copy()
        self.optsum_ = model.optsum
        self.ranef_ = model.ranef()

    # ------------------------------------------------------------------ prediction
    def _linear_predictor(self, X, groups, return_std=False):
        """``Xβ`` plus the conditional modes of the levels seen in fitting (and, with ``return_std``,
        the standard errors of that prediction)."""
        layout = self._layout
        X_arr, _, _ = validate_X(self, X, reset=False, numeric=layout.numeric)
        m = X_arr.shape[0]
        encoded = layout.encode(X, X_arr)
        Xf = layout.fixed.matrix(encoded, m)
        gcols = layout.group_values(X, X_arr, groups)
        if return_std and self.model_ is None:
            raise ValueError("return_std needs a model with random effects; this estimator was fit without groups")
        if self.model_ is None or gcols is None:
            pred = Xf[:, layout.keep] @ self.beta_
            return (pred, prediction_se(self.model_, Xf)) if return_std else pred
        codes, z = layout.random_parts(self.model_.reterms, encoded, gcols, m)
        pred = self.model_.linear_predictor(Xf, codes, z)
        return (pred, prediction_se(self.model_, Xf, codes, z)) if return_std else pred
