# Reference numbers for sklmixed's inference and family tests (issue 16).
#
# Usage: Rscript benchmarks/peers/inference_reference.R [outdir]
#        (default outdir: tests/data of the repository this script lives in)
#
# Writes <outdir>/inference_reference.json with
#   profile: lme4's confint(m, method = "profile", level = 0.95) (and lme4's
#     deviance) for three ML fits, data read from sklmixed's bundled CSVs:
#       dyestuff    yield ~ 1 + (1|batch)
#       penicillin  diameter ~ 1 + (1|plate) + (1|sample)
#       sleepstudy  reaction ~ 1 + days + (1 + days|subj)
#     lme4 names: .sig01, .sig02, ... (standard deviations and correlations in
#     lme4's term order), .sigma, then the fixed effects.
#   families: glmmTMB fits (Laplace, ML) of real data: -2 logLik, beta, the
#     random-effects standard deviations and the family parameter:
#       gamma_log        sleepstudy  reaction ~ 1 + days + (1|subj), Gamma(log)
#       gamma_inverse    sleepstudy  same, Gamma(inverse)
#       gamma_identity   sleepstudy  same, Gamma(identity)
#       invgauss_log     sleepstudy  same, inverse.gaussian(log)
#       nbinom_log       lme4's grouseticks  TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION),
#                        nbinom2 (and lme4's glmer.nb for comparison)
#     (glmmTMB's sigma(): Gamma 1/sqrt(shape), inverse Gaussian sqrt(dispersion),
#     nbinom2 the size theta.)
#   colonizer: lme4's testdata/colonizer_rand.rda, glmer(form1, poisson, nAGQ = 0)
#     with the tight nloptwrap settings: -2 logLik, theta, beta.
# The grouseticks and colonizer data are written next to the JSON as CSVs.

suppressPackageStartupMessages({library(lme4); library(glmmTMB); library(jsonlite)})

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
gtight <- glmerControl(optimizer = "nloptwrap",
                       optCtrl = list(algorithm = "NLOPT_LN_BOBYQA", ftol_rel = 1e-12, ftol_abs = 1e-8,
                                      xtol_abs = 1e-10, xtol_rel = 0, maxeval = 1e5))

prof <- function(formula, data) {
  m <- lmer(formula, data, REML = FALSE, control = tight)
  ci <- confint(m, method = "profile", level = 0.95)
  list(formula = deparse(formula), deviance = deviance(m), theta = unname(getME(m, "theta")),
       names = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}
profile <- list(
  dyestuff = prof(yield ~ 1 + (1|batch), ds("dyestuff")),
  penicillin = prof(diameter ~ 1 + (1|plate) + (1|sample), ds("penicillin")),
  sleepstudy = prof(reaction ~ 1 + days + (1 + days|subj), ds("sleepstudy"))
)

tmb <- function(formula, data, family) {
  m <- glmmTMB(formula, data, family = family)
  vc <- VarCorr(m)$cond
  list(formula = deparse(formula), family = family$family, link = family$link,
       minus2loglik = -2 * as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       beta = unname(fixef(m)$cond), beta_names = names(fixef(m)$cond),
       re_sd = unname(unlist(lapply(vc, function(v) attr(v, "stddev")))),
       re_names = names(vc), sigma = sigma(m), converged = m$fit$convergence == 0)
}
sleep <- ds("sleepstudy")
data(grouseticks, package = "lme4")
gt <- grouseticks[, c("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT")]
write.csv(gt, file.path(outdir, "grouseticks.csv"), row.names = FALSE)
gt <- read.csv(file.path(outdir, "grouseticks.csv"), stringsAsFactors = TRUE)
gt$YEAR <- factor(gt$YEAR); gt$BROOD <- factor(gt$BROOD); gt$LOCATION <- factor(gt$LOCATION)
nbf <- TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION)
families <- list(
  gamma_log = tmb(reaction ~ 1 + days + (1|subj), sleep, Gamma(link = "log")),
  gamma_inverse = tmb(reaction ~ 1 + days + (1|subj), sleep, Gamma(link = "inverse")),
  gamma_identity = tmb(reaction ~ 1 + days + (1|subj), sleep, Gamma(link = "identity")),
  nbinom_log = tmb(nbf, gt, nbinom2(link = "log"))
)
# glmmTMB has no inverse Gaussian family: the reference is the exact marginal likelihood of
# reaction ~ 1 + days + (1|subj), inverse.gaussian(log), by integrate() per subject, maximised by optim
ig_m2ll <- function(par, d) {
  b0 <- par[1]; b1 <- par[2]; sb <- exp(par[3]); phi <- exp(par[4])
  dig <- function(y, mu) -0.5 * log(2 * pi * phi * y^3) - (y - mu)^2 / (2 * phi * mu^2 * y)
  tot <- 0
  for (s in split(d, d$subj)) {
    lf <- function(b) sum(dig(s$reaction, exp(b0 + b1 * s$days + b))) + dnorm(b, 0, sb, log = TRUE)
    mode <- optimize(lf, c(-2, 2), maximum = TRUE, tol = 1e-12)
    f <- function(b) sapply(b, function(bb) exp(lf(bb) - mode$objective))
    h <- 1e-4; m0 <- mode$maximum
    sd <- 1 / sqrt(max(-(lf(m0 + h) - 2 * mode$objective + lf(m0 - h)) / h^2, 1e-8))
    val <- tryCatch(integrate(f, m0 - 12 * sd, m0 + 12 * sd, rel.tol = 1e-12, subdivisions = 1000L)$value,
                    error = function(e) NA)
    if (!is.finite(val) || val <= 0) return(1e10)
    tot <- tot + log(val) + mode$objective
  }
  -2 * tot
}
start <- c(log(250), 0.04, log(0.15), log(0.0001))
fit1 <- optim(start, ig_m2ll, d = sleep, method = "Nelder-Mead", control = list(maxit = 5000, reltol = 1e-14))
fit2 <- optim(fit1$par, ig_m2ll, d = sleep, method = "BFGS", control = list(reltol = 1e-14))
families$invgauss_log <- list(formula = "reaction ~ 1 + days + (1|subj)", family = "inverse.gaussian", link = "log",
                              method = "exact marginal likelihood (integrate + optim), not Laplace",
                              minus2loglik = fit2$value, df = 4, beta = fit2$par[1:2],
                              re_sd = exp(fit2$par[3]), dispersion = exp(fit2$par[4]))
nb <- glmer.nb(nbf, gt, control = gtight)
families$nbinom_log$glmer_nb <- list(minus2loglik = -2 * as.numeric(logLik(nb)), theta_nb = getME(nb, "glmer.nb.theta"),
                                     beta = unname(fixef(nb)), re_theta = unname(getME(nb, "theta")))

load(system.file("testdata", "colonizer_rand.rda", package = "lme4"))
write.csv(randdat, file.path(outdir, "colonizer.csv"), row.names = FALSE)
cd <- read.csv(file.path(outdir, "colonizer.csv"), stringsAsFactors = TRUE)
cd$Plot <- factor(cd$Plot)
col0 <- glmer(form1, cd, family = poisson, nAGQ = 0, control = gtight)
col1 <- glmer(form1, cd, family = poisson, control = gtight)
colonizer <- list(formula = deparse(form1),
                  nAGQ0 = list(minus2loglik = -2 * as.numeric(logLik(col0)), theta = unname(getME(col0, "theta")),
                               beta = unname(fixef(col0)), beta_names = names(fixef(col0)),
                               dropped = attr(getME(col0, "X"), "col.dropped")),
                  nAGQ1 = list(minus2loglik = -2 * as.numeric(logLik(col1)), theta = unname(getME(col1, "theta")),
                               beta = unname(fixef(col1))))

meta <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             glmmTMB = as.character(packageVersion("glmmTMB")),
             generator = "benchmarks/peers/inference_reference.R")
writeLines(toJSON(list(meta = meta, profile = profile, families = families, colonizer = colonizer),
                  digits = I(17), auto_unbox = TRUE, pretty = TRUE),
           file.path(outdir, "inference_reference.json"))
