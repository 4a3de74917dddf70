"""A logistic mixed model of the verbal-aggression data, fit the fast way and in full.

316 subjects answered 24 items each ("would you curse, scold or shout in this
situation?"); the binary response ``r2`` is modelled with crossed random intercepts for
subjects and items:

    r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)

As on MixedModels.jl's page "Details of the parameter estimation":

* PIRLS at the starting values: the GLM estimate of β, θ = [1, 1];
* ``fit(fast=True)`` (lme4's ``nAGQ=0``): β is found inside PIRLS and only θ by the
  nonlinear optimizer;
* ``fit()`` (``nAGQ=1``): the Laplace approximation optimised over β and θ together,
  slightly better (a smaller deviance) and slower.

A last fit shows adaptive Gauss-Hermite quadrature, which needs a single scalar
random-effects term: ``(1|subj)`` with ``nagq=9``.

Run with ``python examples/verbagg_glmm.py``.
"""

from __future__ import annotations

import time

from sklmixed import GeneralizedLinearMixedModel, load_dataset

FORMULA = "r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)"


def timed_fit(data, formula=FORMULA, **fit_args):
    start = time.perf_counter()
    model = GeneralizedLinearMixedModel(formula, data, family="bernoulli").fit(progress=False, **fit_args)
    return model, time.perf_counter() - start


def main() -> dict:
    verbagg = load_dataset("verbagg")

    start = GeneralizedLinearMixedModel(FORMULA, verbagg, family="bernoulli")
    print("starting values: β from the GLM of the fixed effects, θ =", start.theta)
    print("  β =", start.beta.round(4))
    dev = start.pirls(vary_beta=True)
    print(f"after PIRLS with β varying: Laplace deviance {dev:.4f}")
    print("  β =", start.beta.round(4))

    fast, t_fast = timed_fit(verbagg, fast=True)
    print(f"\n--- fast fit (θ only; β in PIRLS): {t_fast:.2f} s, {fast.optsum.feval} evaluations ---")
    print(fast)
    print(fast.optsum)

    full, t_full = timed_fit(verbagg)
    print(f"--- full fit (β and θ): {t_full:.2f} s, {full.optsum.feval} evaluations ---")
    print(full)

    print(f"Laplace deviance {full.deviance:.3f} (full) versus {fast.deviance:.3f} (fast); "
          f"the full fit took {t_full / t_fast:.1f} times as long")

    agq, t_agq = timed_fit(verbagg, formula="r2 ~ 1 + anger + gender + btype + situ + (1|subj)", nagq=9)
    print(f"\n--- one scalar term, 9-point adaptive Gauss-Hermite quadrature: {t_agq:.2f} s ---")
    print(agq)

    return {"fast": fast, "full": full, "agq": agq, "seconds": {"fast": t_fast, "full": t_full, "agq": t_agq}}


if __name__ == "__main__":
    main()
