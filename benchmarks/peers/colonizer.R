# lme4's separated Poisson example (its test data colonizer_rand.rda), as used by
# tests/models/test_separation.py: lme4 1.1-31 gives a singular fit with respspeciesH at -22.97
# and the three-way interaction at +23.28 (standard errors of about 3e4), deviance NaN.
# Run: Rscript benchmarks/peers/colonizer.R
library(lme4)
load(system.file("testdata", "colonizer_rand.rda", package = "lme4"))
print(randdat)
m <- glmer(form1, family = poisson, data = randdat)
print(summary(m)$coefficients)
print(getME(m, "theta"))
