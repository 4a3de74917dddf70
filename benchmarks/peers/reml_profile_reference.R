# Reference numbers for profiles of REML fits (issue 16).
#
# Usage: Rscript benchmarks/peers/reml_profile_reference.R [outdir]
#        (default outdir: tests/data of the repository this script lives in)
#
# lme4 1.1-31 profiles a REML fit at its maximum-likelihood refit: profile.merMod calls
# devfun2(), whose first line is `fm <- refitML(fm)`, and every parameter (standard
# deviations, correlations, sigma, fixed effects) is profiled on the ML deviance. This
# script records, for three REML fits of sklmixed's bundled CSVs,
#   dyestuff    yield ~ 1 + (1|batch)
#   penicillin  diameter ~ 1 + (1|plate) + (1|sample)
#   sleepstudy  reaction ~ 1 + days + (1 + days|subj)
# lme4's confint(m, method = "profile", level = 0.95) of the REML fit, with the tight
# nloptwrap settings of inference_reference.R ("tight") and with lmer()'s defaults
# ("default", what a user pasting lme4 code runs), the REML criterion, the deviance of
# refitML(m), and the largest difference from confint() of the ML fit (tight).
# lme4 names: .sig01, .sig02, ... (standard deviations and correlations in lme4's term
# order), .sigma, then the fixed effects.
# Writes <outdir>/reml_profile_reference.json.

suppressPackageStartupMessages({library(lme4); library(jsonlite)})

script_dir <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
args <- commandArgs(trailingOnly = TRUE)
root <- normalizePath(file.path(script_dir, "..", ".."))
outdir <- if (length(args) >= 1) args[1] else file.path(root, "tests", "data")
ds <- function(name) read.csv(file.path(root, "sklmixed", "datasets", "data", paste0(name, ".csv")),
                              stringsAsFactors = TRUE)
tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(algorithm = "NLOPT_LN_BOBYQA", ftol_rel = 1e-12, ftol_abs = 1e-8,
                                    xtol_abs = 1e-10, xtol_rel = 0, maxeval = 1e5))

prof <- function(formula, data) {
  m <- lmer(formula, data, REML = TRUE, control = tight)
  ci <- suppressMessages(confint(m, method = "profile", level = 0.95))
  ci_default <- suppressMessages(confint(lmer(formula, data), method = "profile", level = 0.95))
  ml <- lmer(formula, data, REML = FALSE, control = tight)
  ci_ml <- suppressMessages(confint(ml, method = "profile", level = 0.95))
  list(formula = deparse(formula), reml_criterion = unname(REMLcrit(m)), theta = unname(getME(m, "theta")),
       ml_refit_deviance = deviance(refitML(m)), names = rownames(ci),
       lower = unname(ci[, 1]), upper = unname(ci[, 2]),
       default = list(lower = unname(ci_default[, 1]), upper = unname(ci_default[, 2])),
       max_abs_difference_from_ml_fit = max(abs(ci - ci_ml)))
}
profile <- list(
  dyestuff = prof(yield ~ 1 + (1|batch), ds("dyestuff")),
  penicillin = prof(diameter ~ 1 + (1|plate) + (1|sample), ds("penicillin")),
  sleepstudy = prof(reaction ~ 1 + days + (1 + days|subj), ds("sleepstudy"))
)
meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             generator = "benchmarks/peers/reml_profile_reference.R")
writeLines(toJSON(list(meta = meta, profile = profile), digits = I(17), auto_unbox = TRUE, pretty = TRUE),
           file.path(outdir, "reml_profile_reference.json"))
