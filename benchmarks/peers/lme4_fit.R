# Reference fits with R's lme4 (a comparison peer, not a dependency of sklmixed).
#
# Usage:
#   Rscript lme4_fit.R <csv> <formula> <family: gaussian|binomial|poisson> \
#                      <reml: 0|1> <nAGQ: 0|1|k> <reps> [factors] [optimizer]
#
#   factors   : optional comma-separated list of extra columns to convert to
#               factors (character columns always are); also read from the
#               environment variable LME4_FACTORS.  "-" means none.
#   optimizer : "bobyqa" (default): nloptwrap NLOPT_LN_BOBYQA with tight
#               tolerances (ftol_rel=1e-12, ftol_abs=1e-8, xtol_abs=1e-10,
#               xtol_rel=0, maxeval=1e5), used for every optimization stage;
#               "default": lme4's default lmerControl()/glmerControl();
#               "construct": no fit, the model up to its deviance function
#               (lFormula + mkLmerDevfun) timed instead.
#               Also read from LME4_OPTIMIZER.
#
# Prints one JSON line.  "times" are the seconds of each of <reps> fits
# (formula + data -> fitted model; reading data and loading lme4 excluded).
# For LMMs "objective" is deviance(m) (ML) or the REML criterion (REML).
# For GLMMs "objective" is -2*logLik(m) (= cmp["dev"] = drsum + ussq + ldL2
# - 2 * saturated log-likelihood for nAGQ<=1; the last term is 0 for 0/1
# responses), and lme4's deviance(m) is given as "deviance":
# for glmer that is only the conditional deviance at the modes, i.e. the sum of
# squared deviance residuals (cmp["drsum"]), without the penalty u'u and the
# log-determinant.  "cmp" is m@devcomp$cmp, "sum_u2" is sum(getME(m,"u")^2).
# "feval" is m@optinfo$feval (for nAGQ>=1 glmer fits that is the second,
# joint theta+beta, stage only).

suppressPackageStartupMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 6) {
  stop("usage: Rscript lme4_fit.R <csv> <formula> <family> <reml 0|1> <nAGQ> <reps> [factors] [optimizer]")
}
csv <- args[1]
form <- as.formula(args[2])
family_name <- args[3]
reml <- as.integer(args[4]) != 0
nagq <- as.integer(args[5])
reps <- as.integer(args[6])
factors_arg <- if (length(args) >= 7) args[7] else Sys.getenv("LME4_FACTORS", "")
opt_arg <- if (length(args) >= 8) args[8] else Sys.getenv("LME4_OPTIMIZER", "bobyqa")

dat <- read.csv(csv, stringsAsFactors = TRUE)
extra <- trimws(strsplit(factors_arg, ",")[[1]])
extra <- extra[nzchar(extra) & extra != "-"]
for (nm in names(dat)) {
  if (is.character(dat[[nm]]) || nm %in% extra) dat[[nm]] <- factor(dat[[nm]])
}
missing_cols <- setdiff(extra, names(dat))
if (length(missing_cols)) stop("factor columns not in data: ", paste(missing_cols, collapse = ","))

if (opt_arg == "construct") {
  # the model up to its deviance function (lFormula + mkLmerDevfun, or their glmer twins):
  # what lmer does before it optimises, timed like a fit
  build <- if (family_name == "gaussian") function() do.call(mkLmerDevfun, lFormula(form, data = dat, REML = reml)) else
    function() do.call(mkGlmerDevfun, glFormula(form, data = dat, family = binomial()))
  times <- numeric(0)
  for (i in seq_len(reps)) {
    gc(FALSE)
    t0 <- Sys.time()
    devfun <- build()
    times <- c(times, as.numeric(difftime(Sys.time(), t0, units = "secs")))
  }
  cat(paste0("{\"tool\":\"lme4\",\"construct\":true,\"objective\":null,\"feval\":null,\"theta\":[],\"times\":[",
             paste(sprintf("%.17g", times), collapse = ","), "]}\n"))
  quit(status = 0)
}

tight <- list(algorithm = "NLOPT_LN_BOBYQA", ftol_rel = 1e-12, ftol_abs = 1e-8,
              xtol_abs = 1e-10, xtol_rel = 0, maxeval = 100000)

if (family_name == "gaussian") {
  ctrl <- if (opt_arg == "default") lmerControl() else
    lmerControl(optimizer = "nloptwrap", optCtrl = tight)
  fitfun <- function() lmer(form, data = dat, REML = reml, control = ctrl)
} else {
  fam <- switch(family_name, binomial = binomial(), poisson = poisson(),
                stop("unknown family: ", family_name))
  ctrl <- if (opt_arg == "default") glmerControl() else
    glmerControl(optimizer = "nloptwrap", optCtrl = tight)
  fitfun <- function() glmer(form, data = dat, family = fam, nAGQ = nagq, control = ctrl)
}

times <- numeric(0)
m <- NULL
for (i in seq_len(reps)) {
  gc(FALSE)
  t0 <- Sys.time()
  m <- fitfun()
  times <- c(times, as.numeric(difftime(Sys.time(), t0, units = "secs")))
}

num <- function(x) {
  if (length(x) == 0) return("[]")
  s <- ifelse(is.finite(x), sprintf("%.17g", x), "null")
  s
}
jarr <- function(x) paste0("[", paste(num(as.numeric(x)), collapse = ","), "]")
jstr <- function(x) paste0("\"", gsub("\"", "\\\\\"", gsub("\\\\", "\\\\\\\\", x)), "\"")
jsarr <- function(x) paste0("[", paste(vapply(as.character(x), jstr, ""), collapse = ","), "]")

is_lmm <- family_name == "gaussian"
ll2 <- -2 * as.numeric(logLik(m))
objective <- if (is_lmm) { if (reml) as.numeric(REMLcrit(m)) else as.numeric(deviance(m)) } else ll2
oi <- m@optinfo
msgs <- c(oi$message, unlist(oi$conv$lme4$messages), unlist(oi$warnings))
if (is.null(msgs)) msgs <- character(0)

fields <- c(
  tool = jstr("lme4"),
  lme4_version = jstr(as.character(packageVersion("lme4"))),
  optimizer = jstr(if (opt_arg == "default") paste(ctrl$optimizer, collapse = "+") else "nloptwrap_BOBYQA_tight"),
  family = jstr(family_name),
  reml = if (reml) "true" else "false",
  nAGQ = as.character(if (is_lmm) 1L else nagq),
  objective = num(objective),
  minus2loglik = num(ll2),
  deviance = num(if (is_lmm && reml) NA_real_ else as.numeric(deviance(m))),
  theta = jarr(getME(m, "theta")),
  theta_names = jsarr(names(getME(m, "theta"))),
  beta = jarr(fixef(m)),
  beta_names = jsarr(names(fixef(m))),
  beta_se = jarr(sqrt(diag(as.matrix(vcov(m))))),
  sigma = num(if (is_lmm) sigma(m) else NA_real_),
  sum_u2 = num(sum(getME(m, "u")^2)),
  cmp = paste0("{", paste(jstr(names(m@devcomp$cmp)), num(as.numeric(m@devcomp$cmp)), sep = ":", collapse = ","), "}"),
  feval = as.character(if (is.null(oi$feval)) "null" else oi$feval),
  nobs = as.character(nobs(m)),
  messages = jsarr(msgs),
  times = jarr(times)
)
cat(paste0("{", paste(jstr(names(fields)), fields, sep = ":", collapse = ","), "}\n"))
