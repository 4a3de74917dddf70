# Simulated GLMM reference data and lme4 fits for sklmixed's tests.
#
# Usage: Rscript glmm_families.R [outdir]      (default outdir: tests/data of
#        the repository this script lives in)
#
# Writes
#   <outdir>/glmm_binomial.csv         g,x,n,succ,prop   (prop = succ/n)
#   <outdir>/glmm_poisson.csv          g,x,y
#   <outdir>/glmm_lme4_reference.json  per model and nAGQ (0, 1, 5): theta,
#       beta, beta_se, minus2loglik (-2*logLik(m); CAUTION: for nAGQ > 1 lme4
#       leaves the saturated log-likelihood out of it), minus2loglik_full
#       (-2*log-likelihood with all constants, comparable across nAGQ: equals
#       minus2loglik for nAGQ <= 1 and minus2loglik + minus2saturated for
#       nAGQ > 1), minus2saturated (-2 * saturated log-likelihood), deviance (lme4's
#       deviance(m): for glmer the sum of squared deviance residuals, i.e. the
#       conditional deviance without u'u and log-determinant), sum_u2
#       (sum(getME(m, "u")^2)), cmp (m@devcomp$cmp), feval, messages.
#
# Data (deterministic, R >= 3.6 default RNG: Mersenne-Twister, Inversion,
# Rejection sampling):
#   (a) set.seed(1); 30 groups x 10 obs; g = factor "g01".."g30"; x ~ N(0,1);
#       n ~ uniform on 5..20; b_g ~ N(0, 0.7^2); eta = -0.5 + 0.8 x + b_g;
#       succ ~ Binomial(n, plogis(eta)).  Model cbind(succ, n - succ) ~ 1 + x + (1|g).
#   (b) set.seed(2); 40 groups x 8 obs; x ~ N(0,1); b_g ~ N(0, 0.6^2);
#       y ~ Poisson(exp(0.3 + 0.5 x + b_g)).  Model y ~ 1 + x + (1|g).
# The CSVs are written with 17 significant digits and the fits use the data
# read back from them, so they are exactly what sklmixed reads.
# Optimizer: glmerControl(optimizer = "nloptwrap") with NLOPT_LN_BOBYQA,
# ftol_rel = 1e-12, ftol_abs = 1e-8, xtol_abs = 1e-10, xtol_rel = 0,
# maxeval = 1e5 (both stages).

suppressPackageStartupMessages(library(lme4))

script_dir <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else getwd()
})
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else file.path(script_dir, "..", "..", "tests", "data")
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)
outdir <- normalizePath(outdir)

f17 <- function(x) sprintf("%.17g", x)
glabels <- function(k) sprintf("g%02d", k)

## (a) binomial with trials
set.seed(1)
ng <- 30; per <- 10; N <- ng * per
g <- rep(seq_len(ng), each = per)
x <- rnorm(N)
n <- sample(5:20, N, replace = TRUE)
b <- rnorm(ng, 0, 0.7)
eta <- -0.5 + 0.8 * x + b[g]
succ <- rbinom(N, n, plogis(eta))
bin_csv <- file.path(outdir, "glmm_binomial.csv")
write.csv(data.frame(g = glabels(g), x = f17(x), n = n, succ = succ, prop = f17(succ / n)),
          bin_csv, row.names = FALSE, quote = FALSE)

## (b) poisson
set.seed(2)
ng <- 40; per <- 8; N <- ng * per
g <- rep(seq_len(ng), each = per)
x <- rnorm(N)
b <- rnorm(ng, 0, 0.6)
y <- rpois(N, exp(0.3 + 0.5 * x + b[g]))
poi_csv <- file.path(outdir, "glmm_poisson.csv")
write.csv(data.frame(g = glabels(g), x = f17(x), y = y),
          poi_csv, row.names = FALSE, quote = FALSE)

## fits
tight <- list(algorithm = "NLOPT_LN_BOBYQA", ftol_rel = 1e-12, ftol_abs = 1e-8,
              xtol_abs = 1e-10, xtol_rel = 0, maxeval = 100000)
ctrl <- glmerControl(optimizer = "nloptwrap", optCtrl = tight)

num <- function(x) ifelse(is.finite(x), sprintf("%.17g", x), "null")
jarr <- function(x) paste0("[", paste(num(as.numeric(x)), collapse = ","), "]")
jstr <- function(x) paste0("\"", gsub("\"", "\\\\\"", x), "\"")
jsarr <- function(x) paste0("[", paste(vapply(as.character(x), jstr, ""), collapse = ","), "]")
jobj <- function(fields) paste0("{", paste(jstr(names(fields)), fields, sep = ":", collapse = ","), "}")

fit_one <- function(form, dat, fam, nagq) {
  m <- glmer(form, data = dat, family = fam, nAGQ = nagq, control = ctrl)
  oi <- m@optinfo
  # -2 * saturated log-likelihood (response-density constants included)
  yy <- getME(m, "y"); ww <- weights(m)
  m2sat <- if (fam$family == "binomial") -2 * sum(dbinom(round(ww * yy), round(ww), yy, log = TRUE)) else
    -2 * sum(dpois(yy, yy, log = TRUE))
  m2ll <- -2 * as.numeric(logLik(m))
  # lme4's AGQ (nAGQ > 1) logLik leaves out the saturated log-likelihood
  m2ll_full <- if (nagq > 1) m2ll + m2sat else m2ll
  msgs <- c(oi$message, unlist(oi$conv$lme4$messages), unlist(oi$warnings))
  if (is.null(msgs)) msgs <- character(0)
  jobj(c(
    nAGQ = as.character(nagq),
    theta = jarr(getME(m, "theta")),
    beta = jarr(fixef(m)),
    beta_names = jsarr(names(fixef(m))),
    beta_se = jarr(sqrt(diag(as.matrix(vcov(m))))),
    minus2loglik = num(m2ll),
    minus2loglik_full = num(m2ll_full),
    minus2saturated = num(m2sat),
    deviance = num(deviance(m)),
    sum_u2 = num(sum(getME(m, "u")^2)),
    cmp = jobj(setNames(num(as.numeric(m@devcomp$cmp)), names(m@devcomp$cmp))),
    feval = as.character(if (is.null(oi$feval)) "null" else oi$feval),
    messages = jsarr(msgs)
  ))
}

bdat <- read.csv(bin_csv, stringsAsFactors = TRUE)
pdat <- read.csv(poi_csv, stringsAsFactors = TRUE)
models <- list(
  binomial = list(formula = "cbind(succ, n - succ) ~ 1 + x + (1|g)", data = bdat,
                  family = binomial(), file = basename(bin_csv)),
  poisson = list(formula = "y ~ 1 + x + (1|g)", data = pdat,
                 family = poisson(), file = basename(poi_csv))
)
out <- character(0)
for (nm in names(models)) {
  md <- models[[nm]]
  fits <- vapply(c(0L, 1L, 5L), function(k) fit_one(as.formula(md$formula), md$data, md$family, k), "")
  names(fits) <- c("nAGQ0", "nAGQ1", "nAGQ5")
  out[nm] <- jobj(c(formula = jstr(md$formula), data = jstr(md$file),
                    family = jstr(md$family$family), link = jstr(md$family$link),
                    nobs = as.character(nrow(md$data)), fits))
}
meta <- jobj(c(
  lme4_version = jstr(as.character(packageVersion("lme4"))),
  R_version = jstr(R.version.string),
  optimizer = jstr("nloptwrap NLOPT_LN_BOBYQA ftol_rel=1e-12 ftol_abs=1e-8 xtol_abs=1e-10 xtol_rel=0 maxeval=1e5"),
  generator = jstr("benchmarks/peers/glmm_families.R"),
  note = jstr("deviance is lme4's deviance(m) = sum of squared deviance residuals (cmp drsum); minus2loglik = -2*logLik(m) = cmp dev = drsum + ussq + ldL2 + minus2saturated for nAGQ<=1, but for nAGQ>1 lme4 omits minus2saturated from logLik; minus2loglik_full includes it for every nAGQ")
))
json_file <- file.path(outdir, "glmm_lme4_reference.json")
writeLines(jobj(c(meta = meta, out)), json_file)
cat("wrote", bin_csv, poi_csv, json_file, "\n")
