"""Fit the benchmark models with sklmixed and every installed peer, side by side.

``python -m benchmarks`` (or ``python benchmarks/run.py``) fits each model with sklmixed, R's
lme4 (through ``Rscript``), ``mixedlm`` and ``statsmodels`` where they are installed and can
express the model, alternating tools over several rounds, and writes the medians to
``docs/benchmarks.md``. Timings cover formula and DataFrame to fitted model: data are
loaded and libraries imported first (lme4 is timed inside R). Peers that are missing are
skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.peers import peer_fits  # noqa: E402
from benchmarks.table import fmt_time, peer_cells  # noqa: E402
from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, load_dataset  # noqa: E402

VAFORM = "r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)"
VAFORM2 = "r2 ~ (anger + gender + btype + situ)^2 + (1|subj) + (1|item)"
INSTEVAL2 = "y ~ 1 + service*dept + (1|s) + (1|d)"
#: (label, dataset, formula, family, options)
MODELS = [
    ("dyestuff", "dyestuff", "yield ~ 1 + (1|batch)", "gaussian", {}),
    ("sleepstudy", "sleepstudy", "reaction ~ 1 + days + (1 + days|subj)", "gaussian", {}),
    ("sleepstudy zerocorr", "sleepstudy", "reaction ~ 1 + days + (1|subj) + (0 + days|subj)", "gaussian", {}),
    ("penicillin", "penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", "gaussian", {}),
    ("pastes nested", "pastes", "strength ~ 1 + (1|batch/cask)", "gaussian", {}),
    ("insteval 1", "insteval", "y ~ 1 + service + (1|s) + (1|d) + (1|dept)", "gaussian", {}),
    ("insteval 2", "insteval", INSTEVAL2, "gaussian", {}),
    ("verbagg fast", "verbagg", VAFORM, "binomial", {"fast": True}),
    ("verbagg full", "verbagg", VAFORM, "binomial", {"fast": False}),
    ("verbagg full, interactions", "verbagg", VAFORM2, "binomial", {"fast": False}),
    ("insteval 2, construction", "insteval", INSTEVAL2, "gaussian", {"construct": True}),
]
PEERS = ("lme4", "lme4-default", "mixedlm", "statsmodels")
#: objective evaluations in ../shared/design/algorithms.md (lme4 with MixedModels' settings; the
#: seed document's 37 for verbagg fast); a well-tuned implementation needs about as many
#: models whose peers take half a minute a fit get fewer rounds
MAX_ROUNDS = {"verbagg full, interactions": 3}
DESIGN_EVALS = {"dyestuff": 22, "sleepstudy": 57, "sleepstudy zerocorr": 30, "penicillin": 33, "pastes nested": 35,
                "insteval 1": 82, "insteval 2": 36, "verbagg fast": 37}


def fit_sklmixed(data, formula, family, options):
    """Time formula + DataFrame -> fitted model (or, with ``construct``, -> model ready to fit)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if options.get("construct"):
            m = LinearMixedModel(formula, data)
            return {"tool": "sklmixed", "objective": None, "feval": None, "theta": [],
                    "time": time.perf_counter() - t0}
        if family == "gaussian":
            m = LinearMixedModel(formula, data).fit(progress=False)
            objective = m.objective
        else:
            m = GeneralizedLinearMixedModel(formula, data, family="bernoulli").fit(progress=False, **options)
            objective = -2 * m.loglikelihood
    elapsed = time.perf_counter() - t0
    prefit = getattr(m.optsum, "prefit", None)
    feval = m.optsum.feval if prefit is None else f"{prefit.feval}+{m.optsum.feval}"  # fast stage + joint stage
    return {"tool": "sklmixed", "objective": float(objective), "feval": feval,
            "theta": m.theta.tolist(), "time": elapsed}


def fit_peer(tool, csv, formula, family, options):
    nagq = 0 if options.get("fast") else 1
    fn = {"lme4": peer_fits.fit_lme4, "lme4-default": peer_fits.fit_lme4, "mixedlm": peer_fits.fit_mixedlm,
          "statsmodels": peer_fits.fit_statsmodels}[tool]
    extra = {"optimizer": "default"} if tool == "lme4-default" else {}
    if options.get("construct"):
        if tool not in ("lme4", "mixedlm"):  # one construction each: lme4's settings do not enter
            return None
        extra = {"optimizer": "construct"} if tool == "lme4" else {"construct": True}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fn(csv, formula, family=family, reml=False, nagq=nagq, reps=1, **extra)
    except Exception as exc:  # noqa: BLE001  a peer failing is a result, not a crash
        return {"tool": tool, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
    if res is None:
        return None
    return {"tool": tool, "objective": res.get("objective"), "feval": res.get("feval"),
            "theta": res.get("theta"), "time": res["times"][0]}


def available_peers(requested):
    found, notes = [], []
    for tool in requested:
        if tool in ("lme4", "lme4-default"):
            ok = peer_fits.fit_lme4 is not None and _has_lme4()
        else:
            try:
                __import__("mixedlm" if tool == "mixedlm" else "statsmodels")
                ok = True
            except ImportError:
                ok = False
        (found if ok else notes).append(tool)
    return found, [f"{t} is not installed: skipped" for t in notes]


def _has_lme4():
    import shutil
    import subprocess

    rscript = shutil.which("Rscript")
    if rscript is None:
        return False
    return subprocess.run([rscript, "-e", "quit(status = !requireNamespace('lme4', quietly = TRUE))"],
                          capture_output=True).returncode == 0


def run(models, peers, rounds, only=""):
    tmp = Path(tempfile.mkdtemp(prefix="sklmixed-bench-"))
    results = []
    for label, dataset, formula, family, options in models:
        if only and only not in label:
            continue
        data = load_dataset(dataset)
        csv = tmp / f"{dataset}.csv"
        if not csv.exists():
            data.to_csv(csv, index=False)
        runs = {"sklmixed": []} | {p: [] for p in peers}
        for _ in range(min(rounds, MAX_ROUNDS.get(label, rounds))):  # alternate tools within every round
            runs["sklmixed"].append(fit_sklmixed(data, formula, family, options))
            for p in peers:
                res = fit_peer(p, csv, formula, family, options)
                if res is not None:
                    runs[p].append(res)
        row = {"model": label, "formula": formula, "tools": {}}
        for tool, rs in runs.items():
            ok = [r for r in rs if "error" not in r]
            if not ok:
                if rs:
                    row["tools"][tool] = {"error": rs[0]["error"]}
                continue
            row["tools"][tool] = {
                "median": statistics.median(r["time"] for r in ok),
                "objective": ok[-1]["objective"],
                "feval": ok[-1]["feval"],
                "theta": ok[-1]["theta"],
            }
        results.append(row)
        print(json.dumps(row), flush=True)
    return results


def markdown(results, peers, notes, rounds):
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `python -m benchmarks` on {time.strftime('%Y-%m-%d')}: {platform.platform()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}. Median of {rounds} rounds (3 for the GLMM "
        "with interactions, whose peers take half a minute a fit); tools alternate within each round. Time is "
        "formula and DataFrame to fitted model; for *construction*, to a model ready to fit (lme4 and mixedlm: "
        "`lFormula` + `mkLmerDevfun`). The objective is the ML deviance "
        "(−2 log-likelihood; for the GLMMs −2 log-likelihood of the Laplace approximation, or of lme4's "
        "nAGQ = 0 fit for *fast*). lme4 runs twice: with MixedModels' NLopt BOBYQA settings (*lme4*: "
        "`nloptwrap`, ftol_rel 1e-12, ftol_abs 1e-8, xtol_abs 1e-10, the settings sklmixed uses) and with its "
        "own defaults (*lme4-default*: `lmerControl()`, `glmerControl()`, looser tolerances); mixedlm and "
        "statsmodels run with their defaults.",
        "",
    ]
    lines += [f"- {n}" for n in notes]
    if notes:
        lines.append("")
    head = ["model", "sklmixed"] + list(peers) + ["ratio", "objective (sklmixed)", "rel. Δobjective vs best peer",
                                                  "evals", "design evals"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for row in results:
        t = row["tools"]
        sk = t.get("sklmixed", {})
        cells = [row["model"], fmt_time(sk["median"]) if "median" in sk else "—"]
        peer, peer_times, peer_objs = peer_cells(t, peers)
        cells += peer
        ratio = sk["median"] / min(peer_times) if peer_times and "median" in sk else float("nan")
        cells.append(f"{ratio:.2f}")
        objective = sk.get("objective")
        cells.append("—" if objective is None else f"{objective:.6f}")
        best = min(peer_objs) if peer_objs else None
        cells.append(f"{(objective - best) / abs(best):+.1e}" if peer_objs and objective is not None else "—")
        evals = [str(sk.get("feval"))] + [str(t[p]["feval"]) for p in peers if p in t and "feval" in t[p]]
        cells.append("—" if objective is None else " / ".join(evals))
        cells.append(str(DESIGN_EVALS.get(row["model"], "—")))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "MixedModels.jl is not run here (Julia is not installed); its published timings, from other "
              "machines: insteval 1 about 0.42–0.56 s (107 evaluations, v5 development), insteval 2 about 0.23 s "
              "(46 evaluations, v5), dyestuff 95 µs, penicillin 393 µs, pastes nested 285 µs (2024, Chairmarks); "
              "see `algorithms.md` §7.2."]
    lines += ["", "*ratio* is sklmixed's median over the fastest peer's. *rel. Δobjective* is sklmixed's objective "
              "minus the best peer's, relative to it: negative means sklmixed found a better optimum. *evals* lists "
              "objective evaluations, sklmixed first, then the peers in column order (for the full GLMM fits, "
              "sklmixed's fast stage + its joint stage, lme4's joint stage alone); *design evals* are the counts of "
              "`algorithms.md` (lme4 with MixedModels' settings; the seed document for verbagg fast). "
              "Objectives of every tool are in `benchmarks/results.json`.", ""]
    return "\n".join(lines)


def _read_results(path):
    """Rows of an earlier run: ``results.json`` (``{"quiet": [...], "contended": [...]}``), a list, or
    the JSON lines a run prints (quiet rows first)."""
    text = Path(path).read_text()
    if text.lstrip().startswith("{") and '"quiet"' in text[:20]:
        data = json.loads(text)
        return data["quiet"], data.get("contended")
    if text.lstrip().startswith("["):
        return json.loads(text), None
    rows = [json.loads(line) for line in text.splitlines() if line.startswith('{"model"')]
    return rows, None


def main(argv=None):
    from benchmarks import contended

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--contended-rounds", type=int, default=3)
    ap.add_argument("--load", type=int, default=2, help="CPU-bound processes beside the contended run (0: none)")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--only", default="", help="run only models whose label contains this")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling study")
    ap.add_argument("--no-large", action="store_true", help="skip the 10x MovieLens-like point of the scaling study")
    ap.add_argument("--results", default="", help="reuse the model rows of an earlier run (results.json or lines)")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    peers, notes = available_peers([p for p in args.peers.split(",") if p])
    loaded = None
    if args.results:
        results, loaded = _read_results(args.results)
    else:
        results = run(MODELS, peers, args.rounds, args.only)
        if args.load:
            with contended.busy(args.load):
                loaded = run(MODELS, peers, args.contended_rounds, args.only)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    text = markdown(results, peers, notes, args.rounds)
    if loaded:
        text += "\n" + contended.markdown(results, loaded, peers, args.load, args.contended_rounds)
    scaling = None
    if not args.no_scaling:
        from benchmarks.scaling import scaling_study

        scaling_text, scaling = scaling_study(Path(args.out).parent, large=not args.no_large, load=args.load or 2)
        text += "\n" + scaling_text
    minutes = (time.perf_counter() - started) / 60
    text += f"\nThis run of `python -m benchmarks` took {minutes:.0f} min.\n"
    Path(args.out).write_text(text)
    (ROOT / "benchmarks" / "results.json").write_text(
        json.dumps({"quiet": results, "contended": loaded, "scaling": scaling}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
