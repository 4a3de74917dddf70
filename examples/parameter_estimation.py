"""Details of the parameter estimation: the walk-through of MixedModels.jl's documentation.

Fits the models of the MixedModels.jl page "Details of the parameter estimation" and
prints what that page shows:

* ``fm1``, a simple scalar random-effects term: ``yield ~ 1 + (1|batch)`` (dyestuff),
  with its indicator matrix ``Z`` and the scalar ``λ``;
* ``fm2``, a vector-valued term: ``reaction ~ 1 + days + (1 + days|subj)`` (sleepstudy),
  with the 2 x 2 block of ``Λ`` and ``θ``;
* ``fm3``, the same with uncorrelated random effects,
  ``(1|subj) + (0 + days|subj)``, amalgamated into one term with a diagonal ``λ``;
* ``fm4``, crossed factors ``(1|sample) + (1|plate)`` (penicillin), with the block
  structure of the blocked Cholesky factor (``block_description``);
* the optimizer summary ``optsum``, the fit log, and ``LN_NELDERMEAD`` against the
  default ``LN_BOBYQA``, with the convergence plot of the two fit logs;
* the check for a singular fit.

Run with ``python examples/parameter_estimation.py [convergence.png]``; the plot goes
to the given path, or to a temporary directory (it needs matplotlib:
``pip install "sklmixed[plot]"``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from sklmixed import LinearMixedModel, load_dataset


def section(title: str) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}")


def save_convergence_plot(models, labels, path: Path) -> Path | None:
    """The seed's figure: the objective at every step of each optimizer."""
    try:
        import matplotlib
    except ImportError:
        print('matplotlib is not installed: no convergence plot (pip install "sklmixed[plot]")')
        return None
    matplotlib.use("Agg")  # write a file; never open a window
    import matplotlib.pyplot as plt

    from sklmixed.plotting import plot_convergence

    ax = plot_convergence(*models, labels=labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(path, dpi=120)
    plt.close(ax.figure)
    return path


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    plot_path = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="sklmixed-")) / "convergence.png"

    dyestuff = load_dataset("dyestuff")
    sleepstudy = load_dataset("sleepstudy")
    penicillin = load_dataset("penicillin")

    section("fm1: a simple, scalar random-effects term")
    fm1 = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff).fit(progress=False)
    print(fm1)
    t1 = fm1.reterms[0]
    print(f"{t1!r}: Z is {t1.z_matrix().shape[0]} x {t1.z_matrix().shape[1]}; its first rows are")
    print(t1.z_matrix().toarray()[:7].astype(int))
    print("λ =", t1.lambda_)

    section("fm2: a vector-valued random-effects term")
    form2 = "reaction ~ 1 + days + (1 + days|subj)"
    fm2 = LinearMixedModel(form2, sleepstudy).fit(progress=False)
    print(fm2)
    t21 = fm2.reterms[0]
    print(f"{t21!r}: Z is {t21.z_matrix().shape}, with {t21.z_matrix().nnz} stored entries")
    print("λ =\n", t21.lambda_)
    print("θ =", fm2.theta)

    section("fm3: uncorrelated random effects, amalgamated into one term")
    fm3 = LinearMixedModel("reaction ~ 1 + days + (1|subj) + (0 + days|subj)", sleepstudy).fit(progress=False)
    t31 = fm3.reterms[0]
    print("terms:", fm3.reterms)
    print("λ =\n", t31.lambda_)
    print("θ =", fm3.theta)

    section("fm4: crossed random effects; terms sorted by decreasing number of random effects")
    fm4 = LinearMixedModel("diameter ~ 1 + (1|sample) + (1|plate)", penicillin).fit(progress=False)
    print("terms:", fm4.reterms)
    print("\nblock_description(fm2):")
    print(fm2.block_description())
    print("block_description(fm4):")
    print(fm4.block_description())

    section("The optimizer summary of fm2")
    print(fm2.optsum)
    fm2.refit(fitlog=True, progress=False)
    print("the first five steps of the fit log (refit with fitlog=True):")
    print(fm2.optsum.fitlog_table().head(5).to_string(index=False))

    section("Nelder-Mead instead of BOBYQA")
    fm2nm = LinearMixedModel(form2, sleepstudy)
    fm2nm.optsum.optimizer = "LN_NELDERMEAD"
    fm2nm.fit(fitlog=True, progress=False)
    print(fm2nm.optsum)
    print(f"function evaluations: {fm2nm.optsum.feval} (LN_NELDERMEAD) versus {fm2.optsum.feval} (LN_BOBYQA); "
          f"objectives differ by {abs(fm2nm.objective - fm2.objective):.2g}")
    saved = save_convergence_plot([fm2nm, fm2], ["NelderMead", "BOBYQA"], plot_path)
    if saved is not None:
        print(f"convergence plot written to {saved}")

    section("Convergence to singular covariance matrices")
    print("issingular(fm2):", fm2.issingular())
    dyestuff2 = load_dataset("dyestuff2")
    singular = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff2).fit(progress=False)
    print("dyestuff2, yield ~ 1 + (1|batch): θ =", singular.theta, " issingular:", singular.issingular())

    return {"fm1": fm1, "fm2": fm2, "fm3": fm3, "fm4": fm4, "fm2nm": fm2nm, "plot": saved,
            "theta": np.asarray(fm2.theta)}


if __name__ == "__main__":
    main()
