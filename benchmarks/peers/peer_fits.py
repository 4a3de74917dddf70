"""Reference fits from comparison peers: R's lme4, the ``mixedlm`` package and
statsmodels' ``MixedLM``.

None of these is a dependency of sklmixed; every function returns ``None`` when
its peer is not installed (or cannot express the model).  All three return a
dict with at least the keys

    tool, objective, theta, beta, sigma, feval, times

where ``objective`` is the ML deviance (-2 log-likelihood) or the REML
criterion for LMMs and -2 log-likelihood (Laplace / AGQ) for GLMMs, ``theta``
is the relative covariance factor (lower Cholesky factor of Sigma_b / sigma^2
per term, column-major lower triangle) in lme4's term order (terms sorted by
decreasing number of levels, ties in formula order), ``sigma`` is the residual
standard deviation (None for GLMMs), ``feval`` is the number of objective
evaluations the peer reports (None when it reports none) and ``times`` holds
the wall-clock seconds of each of ``reps`` fits, timed from formula + data to
fitted model (reading the CSV, library import and start-up excluded).

Usage::

    from peer_fits import fit_lme4, fit_mixedlm, fit_statsmodels
    fit_lme4("/work/shared/datasets/sleepstudy.csv",
             "reaction ~ 1 + days + (1 + days|subj)", reml=False, reps=3)

Run ``python peer_fits.py`` to print all the benchmark fits as JSON lines.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "lme4_fit.R"


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def _read_data(csv_path, factors=()):
    """Read a CSV; ``factors`` columns (and all non-numeric ones) become strings."""
    import pandas as pd

    data = pd.read_csv(csv_path)
    for col in factors:
        data[col] = data[col].astype(str)
    for col in data.columns:
        if not pd.api.types.is_numeric_dtype(data[col]):
            data[col] = data[col].astype(str)
    return data


def _binary_response(data, response):
    """Encode a two-level non-numeric response as 0/1 the way R does for a
    factor response: the first level (in sorted order) is failure, so for
    N/Y, Y is the event."""
    import pandas as pd

    col = data[response]
    if pd.api.types.is_numeric_dtype(col):
        return data
    levels = sorted(col.unique())
    data = data.copy()
    data[response] = (col != levels[0]).astype(float)
    return data


_BAR = re.compile(r"\(([^()|]*)\|([^()|]*)\)")


def parse_lme4_formula(formula):
    """Split an lme4 formula into (response, fixed rhs, [(re_expr, group), ...]).

    ``(expr|a/b)`` expands to ``(expr|a) + (expr|a:b)``.  Double bars are not
    handled."""
    lhs, rhs = formula.split("~", 1)
    terms = []
    for expr, group in _BAR.findall(rhs):
        group = group.strip()
        parts = [g.strip() for g in group.split("/")]
        for k in range(len(parts)):
            terms.append((expr.strip(), ":".join(parts[: k + 1])))
    fixed = _BAR.sub("", rhs)
    fixed = re.sub(r"\+\s*(\+\s*)+", "+", fixed)
    fixed = re.sub(r"^\s*\+|\+\s*$", "", fixed.strip()).strip() or "1"
    return lhs.strip(), fixed, terms


def _re_columns(expr):
    """Names of the random-effect columns of ``expr`` ("1 + days" ->
    ["(Intercept)", "days"]); only simple sums of variable names are supported."""
    parts = [p.strip() for p in expr.split("+") if p.strip()]
    intercept = True
    cols = []
    for p in parts:
        if p in ("0", "-1"):
            intercept = False
        elif p == "1":
            intercept = True
        else:
            cols.append(p)
    return (["(Intercept)"] if intercept else []) + cols


def _group_codes(data, group):
    parts = group.split(":")
    if len(parts) == 1:
        return data[parts[0]].astype(str)
    out = data[parts[0]].astype(str)
    for p in parts[1:]:
        out = out + ":" + data[p].astype(str)
    return out


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        return None
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def _lme4_order(blocks):
    """blocks: list of (n_levels, theta_list) in the tool's order -> flat theta
    in lme4's order (decreasing number of levels, stable)."""
    order = sorted(range(len(blocks)), key=lambda i: -blocks[i][0])
    out = []
    for i in order:
        out.extend(blocks[i][1])
    return out


# ----------------------------------------------------------------------------
# lme4
# ----------------------------------------------------------------------------

def fit_lme4(csv_path, formula, family="gaussian", reml=False, nagq=1, reps=1,
             factors=(), optimizer="bobyqa", timeout=3600):
    """Fit with R/lme4 through ``lme4_fit.R``.  ``optimizer`` is "bobyqa"
    (nloptwrap BOBYQA, tight tolerances) or "default" (lme4's defaults).
    Returns None when Rscript or lme4 is missing."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    check = subprocess.run([rscript, "-e", "quit(status = !requireNamespace('lme4', quietly = TRUE))"],
                           capture_output=True)
    if check.returncode != 0:
        return None
    cmd = [rscript, str(R_SCRIPT), str(csv_path), formula, family, str(int(bool(reml))),
           str(int(nagq)), str(int(reps)), ",".join(factors) or "-", optimizer]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"lme4_fit.R failed ({proc.returncode}):\n{proc.stderr}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    out["process_wall"] = wall  # Rscript start-up + data reading + all reps
    out["median_time"] = _median(out["times"])
    out["stderr"] = proc.stderr.strip()
    return out


# ----------------------------------------------------------------------------
# mixedlm
# ----------------------------------------------------------------------------

def _count_glmm_fevals():
    """Wrap mixedlm's GLMM optimizer driver to add up the nfev of its stages
    (GlmerResult has only ``n_iter``).  Returns (counter dict, undo)."""
    from mixedlm.estimation import laplace

    counter = {"nfev": 0, "stages": []}
    original = laplace.run_optimizer

    def wrapped(*args, **kwargs):
        res = original(*args, **kwargs)
        nfev = int(getattr(res, "nfev", 0) or 0)
        counter["nfev"] += nfev
        counter["stages"].append(nfev)
        return res

    laplace.run_optimizer = wrapped

    def undo():
        laplace.run_optimizer = original

    return counter, undo


def fit_mixedlm(csv_path, formula, family="gaussian", reml=False, nagq=1, reps=1,
                factors=(), control=None, construct=False):
    """Fit with the ``mixedlm`` package (default controls unless ``control``:
    LMM "auto" = L-BFGS-B with analytic gradient, COBYQA fallback; GLMM COBYQA).
    With ``construct`` (LMMs), time the model up to its deviance function instead
    (``lFormula`` + ``mkLmerDevfun``, as lme4's). Returns None if mixedlm is not
    installed or cannot fit the model."""
    try:
        import mixedlm as mlm
    except ImportError:
        return None
    data = _read_data(csv_path, factors)
    if construct:
        if family != "gaussian":
            return None
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            mlm.mkLmerDevfun(mlm.lFormula(formula, data, REML=bool(reml)))
            times.append(time.perf_counter() - t0)
        return {"tool": "mixedlm", "construct": True, "objective": None, "feval": None, "theta": [],
                "times": times, "median_time": _median(times)}
    response, _, terms = parse_lme4_formula(formula)
    if family == "gaussian":
        fam = None
    else:
        if family == "binomial":
            if "cbind(" not in response:
                data = _binary_response(data, response)
            fam = mlm.families.Binomial()
        elif family == "poisson":
            fam = mlm.families.Poisson()
        else:
            return None
    times = []
    res = None
    nfev = None
    msgs = []
    for _ in range(reps):
        with warnings.catch_warnings(record=True) as wlist:
            warnings.simplefilter("always")
            if fam is None:
                t0 = time.perf_counter()
                res = mlm.lmer(formula, data, REML=bool(reml), control=control)
                times.append(time.perf_counter() - t0)
                nfev = int(res.function_evals)
            else:
                counter, undo = _count_glmm_fevals()
                try:
                    t0 = time.perf_counter()
                    res = mlm.glmer(formula, data, family=fam, nAGQ=int(nagq), control=control)
                    times.append(time.perf_counter() - t0)
                finally:
                    undo()
                nfev = counter["nfev"]
        msgs = sorted({str(w.message) for w in wlist})
    blocks = []
    k = 0
    for s in res.matrices.random_structures:
        size = s.n_terms * (s.n_terms + 1) // 2 if s.correlated else s.n_terms
        blocks.append((s.n_levels, [float(v) for v in res.theta[k:k + size]]))
        k += size
    if k != len(res.theta):  # unknown parameterisation: keep native order
        blocks = [(0, [float(v) for v in res.theta])]
    out = {
        "tool": "mixedlm",
        "version": mlm.__version__,
        "family": family,
        "reml": bool(reml) if fam is None else False,
        "nAGQ": 1 if fam is None else int(nagq),
        "theta": _lme4_order(blocks),
        "theta_native": [float(v) for v in res.theta],
        "beta": [float(v) for v in res.beta],
        "feval": nfev,
        "n_iter": int(res.n_iter),
        "optimizer": str(res.optimizer),
        "converged": bool(res.converged),
        "messages": msgs,
        "times": times,
        "median_time": _median(times),
    }
    if fam is None:
        out["objective"] = float(res.deviance)
        out["sigma"] = float(res.sigma)
    else:
        out["objective"] = float(res.get_deviance())  # -2 logLik
        out["deviance_internal"] = float(res.deviance)  # optimizer's criterion (rel. saturated)
        out["sigma"] = None
        # mixedlm's ``u`` is on the b scale (b = Lambda u); lme4's u is spherical
        out["sum_b2"] = float((res.u ** 2).sum())
        structs = res.matrices.random_structures
        if all(s.n_terms == 1 for s in structs) and len(structs) == len(res.theta):
            k, tot = 0, 0.0
            for s, th in zip(structs, res.theta):
                tot += float(((res.u[k:k + s.n_levels] / th) ** 2).sum()) if th > 0 else 0.0
                k += s.n_levels
            out["sum_u2"] = tot
    try:
        import numpy as np

        out["beta_se"] = [float(v) for v in np.sqrt(np.diag(res.vcov()))]
    except Exception:  # noqa: BLE001
        pass
    return out


# ----------------------------------------------------------------------------
# statsmodels
# ----------------------------------------------------------------------------

CROSSED_MAX_NOBS = 5000  # one dense group of this size is still cheap


def _statsmodels_spec(data, formula):
    """Translate to MixedLM.from_formula arguments, or None if not expressible.

    * one grouping factor: the first term is ``re_formula`` (correlated block),
      further terms must be single columns and become variance components;
    * two nested factors with intercepts only: groups = outer factor, inner
      factor as a variance component;
    * crossed intercept-only factors (small data only): one group holding all
      rows, every factor a variance component.
    Returns (fixed_formula, kwargs, term_layout) where term_layout is a list of
    ("re", n_levels, ncols) / ("vc", n_levels, name) in lme4 term order."""
    response, fixed, terms = parse_lme4_formula(formula)
    if not terms:
        return None
    data = data.copy()
    gcols = {}
    for _, g in terms:
        if g not in gcols:
            name = g if ":" not in g else "__" + g.replace(":", "_")
            data[name] = _group_codes(data, g)
            gcols[g] = name
    nlev = {g: data[gcols[g]].nunique() for g in gcols}
    data["__response"] = data[response]  # e.g. "yield" is a Python keyword
    fixed_formula = f"__response ~ {fixed}"
    groups = list(gcols)
    layout = []
    if len(groups) == 1:
        g = groups[0]
        re_expr, *rest = [e for e, _ in terms]
        vc = {}
        layout.append(("re", nlev[g], len(_re_columns(re_expr))))
        for e in rest:
            cols = _re_columns(e)
            if len(cols) != 1:
                return None
            c = cols[0]
            vc[c] = "1" if c == "(Intercept)" else f"0 + {c}"
            layout.append(("vc", nlev[g], c))
        cols = _re_columns(re_expr)
        slopes = [c for c in cols if c != "(Intercept)"]
        re_formula = " + ".join((["1"] if "(Intercept)" in cols else ["0"]) + slopes)
        kw = dict(groups=data[gcols[g]], re_formula=re_formula)
        if vc:
            kw["vc_formula"] = vc
        return data, fixed_formula, kw, layout
    # several grouping factors: intercepts only
    if any(_re_columns(e) != ["(Intercept)"] for e, _ in terms):
        return None
    if len(groups) == 2:
        a, b = sorted(groups, key=lambda g: nlev[g])
        if data.groupby(gcols[b])[gcols[a]].nunique().max() == 1:  # b nested in a
            kw = dict(groups=data[gcols[a]], re_formula="1",
                      vc_formula={"inner": f"0 + C({gcols[b]})"})
            layout = [("re", nlev[a], 1), ("vc", nlev[b], "inner")]
            return data, fixed_formula, kw, layout
    if len(data) > CROSSED_MAX_NOBS:
        return None
    data["__one"] = 1
    vc = {f"v{i}": f"0 + C({gcols[g]})" for i, g in enumerate(groups)}
    layout = [("vc", nlev[g], f"v{i}") for i, g in enumerate(groups)]
    kw = dict(groups=data["__one"], re_formula="0", vc_formula=vc)
    return data, fixed_formula, kw, layout


def _count_calls(obj, names):
    """Count calls of the bound methods ``names`` of ``obj`` (instance-level
    wrappers; the optimizer looks them up through the instance)."""
    counts = {n: 0 for n in names}
    for n in names:
        meth = getattr(obj, n)

        def wrapped(*a, _m=meth, _n=n, **k):
            counts[_n] += 1
            return _m(*a, **k)

        setattr(obj, n, wrapped)
    return counts


def fit_statsmodels(csv_path, formula, family="gaussian", reml=False, nagq=1, reps=1,
                    factors=()):
    """Fit a Gaussian LMM with statsmodels' MixedLM (default fit(): bfgs then
    lbfgs/cg if needed).  Returns None for GLMMs, for models it cannot express
    and when statsmodels is missing.  ``feval`` counts calls of
    ``model.loglike`` during fit() (``nscore`` those of the analytic gradient
    ``model.score``)."""
    if family != "gaussian":
        return None
    try:
        import numpy as np
        import statsmodels
        from statsmodels.regression.mixed_linear_model import MixedLM
    except ImportError:
        return None
    data = _read_data(csv_path, factors)
    spec = _statsmodels_spec(data, formula)
    if spec is None:
        return None
    sdata, fixed_formula, kw, layout = spec
    times = []
    res = None
    msgs = []
    for _ in range(reps):
        with warnings.catch_warnings(record=True) as wlist:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            model = MixedLM.from_formula(fixed_formula, data=sdata, **kw)
            calls = _count_calls(model, ("loglike", "score"))
            res = model.fit(reml=bool(reml))
            times.append(time.perf_counter() - t0)
        msgs = sorted({str(w.message).splitlines()[0] for w in wlist})
    scale = float(res.scale)
    cov_re = np.asarray(res.cov_re) / scale
    vcomp = np.asarray(res.vcomp) / scale
    vc_names = list(model.exog_vc.names) if kw.get("vc_formula") else []
    blocks = []
    for item in layout:
        if item[0] == "re":
            q = item[2]
            c = cov_re[:q, :q]
            try:
                L = np.linalg.cholesky(c)
            except np.linalg.LinAlgError:
                L = np.diag(np.sqrt(np.maximum(np.diag(c), 0.0)))
            th = [float(L[i, j]) for j in range(q) for i in range(j, q)]
            blocks.append((item[1], th))
        else:
            v = float(vcomp[vc_names.index(item[2])])
            blocks.append((item[1], [math.sqrt(max(v, 0.0))]))
    # ML: statsmodels' llf is the full log-likelihood; REML: -2*llf matched
    # lme4's REML criterion on the benchmark models.
    objective = -2.0 * float(res.llf)
    retvals = getattr(res, "mle_retvals", None) or {}
    out = {
        "tool": "statsmodels",
        "version": statsmodels.__version__,
        "family": family,
        "reml": bool(reml),
        "nAGQ": 1,
        "objective": objective,
        "theta": _lme4_order(blocks),
        "beta": [float(v) for v in np.asarray(res.fe_params)],
        "beta_se": [float(v) for v in np.asarray(res.bse_fe)],
        "sigma": math.sqrt(scale),
        "feval": calls["loglike"],
        "nscore": calls["score"],
        "n_iter": retvals.get("iterations"),
        "converged": bool(retvals.get("converged", res.converged)),
        "method": getattr(res, "method", None),
        "spec": {k: (v if isinstance(v, (str, dict)) else "<column>") for k, v in kw.items()},
        "messages": msgs,
        "times": times,
        "median_time": _median(times),
    }
    return out


# ----------------------------------------------------------------------------
# the benchmark list
# ----------------------------------------------------------------------------

DATA = Path(os.environ.get("SKLMIXED_DATASETS", "/work/shared/datasets"))
INSTEVAL_FACTORS = ("service", "dept", "s", "d", "studage", "lectage")
VERBAGG = "r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)"

MODELS = [
    # (label, csv, formula, family, reml, nagq, factors)
    ("dyestuff ML", "dyestuff.csv", "yield ~ 1 + (1|batch)", "gaussian", False, 1, ()),
    ("dyestuff REML", "dyestuff.csv", "yield ~ 1 + (1|batch)", "gaussian", True, 1, ()),
    ("dyestuff2 ML", "dyestuff2.csv", "yield ~ 1 + (1|batch)", "gaussian", False, 1, ()),
    ("sleepstudy slope ML", "sleepstudy.csv", "reaction ~ 1 + days + (1 + days|subj)", "gaussian", False, 1, ()),
    ("sleepstudy slope REML", "sleepstudy.csv", "reaction ~ 1 + days + (1 + days|subj)", "gaussian", True, 1, ()),
    ("sleepstudy uncorr ML", "sleepstudy.csv", "reaction ~ 1 + days + (1|subj) + (0 + days|subj)", "gaussian", False, 1, ()),
    ("sleepstudy intercept ML", "sleepstudy.csv", "reaction ~ 1 + days + (1|subj)", "gaussian", False, 1, ()),
    ("penicillin ML", "penicillin.csv", "diameter ~ 1 + (1|plate) + (1|sample)", "gaussian", False, 1, ()),
    ("pastes nested ML", "pastes.csv", "strength ~ 1 + (1|batch/cask)", "gaussian", False, 1, ()),
    ("pastes batch:cask ML", "pastes.csv", "strength ~ 1 + (1|batch:cask)", "gaussian", False, 1, ()),
    ("insteval service ML", "insteval.csv", "y ~ 1 + service + (1|s) + (1|d) + (1|dept)", "gaussian", False, 1, INSTEVAL_FACTORS),
    ("insteval service*dept ML", "insteval.csv", "y ~ 1 + service*dept + (1|s) + (1|d)", "gaussian", False, 1, INSTEVAL_FACTORS),
    ("verbagg nAGQ=0", "verbagg.csv", VERBAGG, "binomial", False, 0, ()),
    ("verbagg nAGQ=1", "verbagg.csv", VERBAGG, "binomial", False, 1, ()),
]


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tools", default="lme4,lme4-default,mixedlm,statsmodels")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="", help="substring of model labels to run")
    ap.add_argument("--out", default="", help="append JSON lines here")
    args = ap.parse_args(argv)
    fns = {
        "lme4": lambda *a, **k: fit_lme4(*a, **k),
        "lme4-default": lambda *a, **k: fit_lme4(*a, optimizer="default", **k),
        "mixedlm": fit_mixedlm,
        "statsmodels": fit_statsmodels,
    }
    for label, csv, formula, family, reml, nagq, factors in MODELS:
        if args.only and args.only not in label:
            continue
        for tool in args.tools.split(","):
            t0 = time.perf_counter()
            try:
                res = fns[tool](DATA / csv, formula, family=family, reml=reml, nagq=nagq,
                                reps=args.reps, factors=factors)
            except Exception as exc:  # noqa: BLE001
                res = {"error": f"{type(exc).__name__}: {exc}"}
            wall = time.perf_counter() - t0
            rec = {"model": label, "formula": formula, "tool_key": tool, "call_wall": wall,
                   "result": res}
            line = json.dumps(rec)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(line + "\n")


if __name__ == "__main__":
    main()
