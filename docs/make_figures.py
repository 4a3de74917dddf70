"""Figures and printed outputs of the user guide, made at build time.

``conf.py`` calls :func:`main` when Sphinx starts, so every build shows what the
current code prints and draws: the PNG figures of :mod:`sklmixed.plotting` and the text
of the summaries the guide discusses, written to ``docs/_static/generated/`` (which git
ignores). Run it alone with ``python docs/make_figures.py [OUTDIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_OUTDIR = Path(__file__).resolve().parent / "_static" / "generated"


def main(outdir=DEFAULT_OUTDIR) -> list[Path]:
    """Fit the guide's models; write its figures (PNG) and printed outputs (TXT) to ``outdir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklmixed import GeneralizedLinearMixedModel, LinearMixedModel, likelihood_ratio_test, load_dataset
    from sklmixed.plotting import caterpillar, plot_convergence, shrinkage

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []

    def text(name, content):
        path = outdir / name
        path.write_text(str(content).rstrip("\n") + "\n", encoding="utf-8")
        written.append(path)

    def figure(name, ax_or_fig):
        fig = getattr(ax_or_fig, "figure", ax_or_fig)
        path = outdir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    dyestuff, dyestuff2 = load_dataset("dyestuff"), load_dataset("dyestuff2")
    sleepstudy, penicillin = load_dataset("sleepstudy"), load_dataset("penicillin")

    # reading the summary
    fm1 = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff).fit(progress=False)
    form2 = "reaction ~ 1 + days + (1 + days|subj)"
    fm2 = LinearMixedModel(form2, sleepstudy).fit(progress=False, fitlog=True)
    fm3 = LinearMixedModel("reaction ~ 1 + days + (1 + days||subj)", sleepstudy).fit(progress=False)
    fm4 = LinearMixedModel("diameter ~ 1 + (1|sample) + (1|plate)", penicillin).fit(progress=False)
    text("fm1_summary.txt", fm1)
    text("fm2_summary.txt", fm2)
    text("fm2_var_components.txt", fm2.var_components().to_string(index=False))
    text("fm2_coef_table.txt", fm2.coef_table().to_string())
    text("lrt.txt", likelihood_ratio_test(fm3, fm2).to_string(index=False))
    text("fm4_blocks.txt", fm4.block_description())
    insteval = load_dataset("insteval")
    text("insteval_blocks.txt",
         LinearMixedModel("y ~ 1 + service + (1|s) + (1|d) + (1|dept)", insteval).block_description())

    # the optimizer
    text("fm2_optsum.txt", fm2.optsum)
    text("fm2_fitlog.txt", fm2.optsum.fitlog_table().head(5).to_string(index=False))
    fm2nm = LinearMixedModel(form2, sleepstudy)
    fm2nm.optsum.optimizer = "LN_NELDERMEAD"
    fm2nm.fit(progress=False, fitlog=True)
    text("fm2nm_optsum.txt", fm2nm.optsum)
    figure("convergence.png", plot_convergence(fm2nm, fm2, labels=["NelderMead", "BOBYQA"]))

    # singular fits
    singular = LinearMixedModel("yield ~ 1 + (1|batch)", dyestuff2).fit(progress=False)
    text("singular_summary.txt", singular)

    # GLMMs
    verbagg = load_dataset("verbagg")
    vaform = "r2 ~ 1 + anger + gender + btype + situ + (1|subj) + (1|item)"
    fast = GeneralizedLinearMixedModel(vaform, verbagg, family="bernoulli").fit(fast=True, progress=False)
    full = GeneralizedLinearMixedModel(vaform, verbagg, family="bernoulli").fit(progress=False)
    text("verbagg_fast.txt", fast)
    text("verbagg_full.txt", full)

    # plots
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 5.0), sharey=False, layout="constrained")
    caterpillar(fm2, "subj", column="(Intercept)", ax=axes[0])
    caterpillar(fm2, "subj", column="days", ax=axes[1])
    figure("caterpillar.png", fig)
    figure("shrinkage.png", shrinkage(fm2, "subj"))
    figure("shrinkage_dyestuff.png", shrinkage(fm1, "batch"))

    # inference
    from sklmixed import parametric_bootstrap, profile
    from sklmixed.plotting import zeta_plot

    axes = zeta_plot(profile(fm1))
    figure("zeta.png", axes[0].figure)
    boot = parametric_bootstrap(fm1, 500, random_state=42, progress=False)
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0), layout="constrained")
    for ax, name in zip(axes, ["sd_(Intercept)|batch", "sigma"]):
        ax.hist(boot.table[name], bins=40)
        ax.set_xlabel(name)
    figure("bootstrap.png", fig)
    return written


if __name__ == "__main__":
    for path in main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTDIR):
        print(path)
