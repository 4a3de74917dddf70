"""Normalised Gauss-Hermite rules."""

import numpy as np
import pytest

from sklmixed.glm.gausshermite import gh_norm


def test_design_values():
    z, w = gh_norm(2)
    np.testing.assert_allclose(z, [-1.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(w, [0.5, 0.5], atol=1e-15)
    z, w = gh_norm(3)
    np.testing.assert_allclose(z, [-np.sqrt(3), 0.0, np.sqrt(3)], atol=1e-14)
    np.testing.assert_allclose(w, [1 / 6, 2 / 3, 1 / 6], atol=1e-15)


@pytest.mark.parametrize("k", [1, 4, 7, 11, 25])
def test_moments_of_the_standard_normal(k):
    z, w = gh_norm(k)
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_array_equal(z, -z[::-1])  # symmetric
    np.testing.assert_array_equal(w, w[::-1])
    # exact for polynomials of degree 2k - 1: E[Z^(2m)] = (2m - 1)!!
    for m in range(min(k, 10)):
        expected = float(np.prod(np.arange(2 * m - 1, 0, -2, dtype=float)))
        assert np.sum(w * z ** (2 * m)) == pytest.approx(expected, rel=1e-9)


def test_cached_and_read_only():
    z1, _ = gh_norm(5)
    z2, _ = gh_norm(5)
    assert z1 is z2 and not z1.flags.writeable


@pytest.mark.parametrize("bad", [0, -3, 2.5, "3"])
def test_bad_k(bad):
    with pytest.raises(ValueError, match="positive integer"):
        gh_norm(bad)
