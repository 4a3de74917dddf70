"""Synthetic data sets shaped like MixedModels.jl's large benchmarks (ml1m and d3), reproducible from a seed.

Neither data set is bundled (both live on OSF, outside any package registry), so the
benchmarks generate look-alikes with the same shape:

* :func:`ml1m_like` -- MovieLens 1M's design: 6,040 users rating 3,706 movies, 1,000,209
  ratings on the scale 1..5, each user rating a movie at most once. Activity and popularity
  are skewed as in MovieLens (every user has at least 20 ratings, a few have thousands; a
  few movies are rated by most users, many by a handful), which is what makes the movie
  block of the factor fill in. ``scale=10`` gives the 10x design of the scaling study
  (60,400 users x 10,000 movies, about 10 M ratings).
* :func:`d3_like` -- MixedModels' ``d3``: ``y ~ 1 + u + (1 + u|g) + (1 + u|h) + (1 + u|i)``
  with 130,418 observations (its row count in MixedModels' tests) and the level counts of
  ``../shared/design/algorithms.md`` §6 (g 4,726, h 172, i 34), ``u`` in 0..29, the three
  factors crossed at random.

Examples
--------
>>> from benchmarks.synthetic import d3_like
>>> df = d3_like(n=2_000, levels=(50, 10, 4))
>>> df.shape, df["g"].nunique() <= 50
((2000, 5), True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ml1m_like", "d3_like", "ML1M", "D3"]

#: MovieLens 1M: users, movies, ratings
ML1M = (6_040, 3_706, 1_000_209)
#: d3: observations, levels of g, h, i
D3 = (130_418, (4_726, 172, 34))


def _activity(rng, nusers, nratings, nmovies, least=20):
    """Ratings per user: at least ``least``, lognormal above it, summing to ``nratings``."""
    raw = rng.lognormal(mean=0.0, sigma=1.1, size=nusers)
    extra = raw / raw.sum() * (nratings - least * nusers)
    counts = least + np.floor(extra).astype(np.int64)
    cap = int(0.62 * nmovies)  # MovieLens' most active user rated 62 % of the movies
    counts = np.minimum(counts, cap)
    short = nratings - counts.sum()
    # hand out what rounding and the cap left over, one rating at a time to the users with room
    order = rng.permutation(nusers)
    while short > 0:
        room = order[counts[order] < cap][:short]
        counts[room] += 1
        short -= len(room)
    return counts


def _ratings_pattern(rng, counts, popularity, chunk=512):
    """(user, movie) pairs, ``counts[u]`` distinct movies per user drawn by ``popularity``.

    Weighted sampling without replacement by the Gumbel top-k trick: the ``c`` largest of
    ``log p_m + Gumbel`` are a sample of ``c`` movies without replacement. Every movie is
    first given one rating by a user drawn by activity, so that every level occurs.
    """
    nusers, nmovies = len(counts), len(popularity)
    first = rng.choice(nusers, size=nmovies, p=counts / counts.sum())  # the user of each movie's first rating
    logp = np.log(popularity)
    users, movies = [], []
    for start in range(0, nusers, chunk):
        stop = min(start + chunk, nusers)
        keys = logp[None, :] - np.log(-np.log(rng.random((stop - start, nmovies))))
        mine = (first >= start) & (first < stop)
        keys[first[mine] - start, np.flatnonzero(mine)] = np.inf
        order = np.argsort(-keys, axis=1)
        take = np.arange(nmovies)[None, :] < counts[start:stop, None]
        rows, cols = np.nonzero(take)
        users.append(rows + start)
        movies.append(order[rows, cols])
    return np.concatenate(users), np.concatenate(movies)


def ml1m_like(seed: int = 1, scale: float = 1.0, *, nusers=None, nmovies=None, nratings=None) -> pd.DataFrame:
    """A data set shaped like MovieLens 1M for ``rating ~ 1 + (1|user) + (1|movie)``.

    Parameters
    ----------
    seed : int, default=1
    scale : float, default=1.0
        Multiplies the users and the ratings; movies grow with the square root of it
        (``scale=10``: 60,400 users, 11,720 movies... capped at 10,000, about 10 M ratings).
    nusers, nmovies, nratings : int, optional
        Override the shape.

    Returns
    -------
    DataFrame with columns ``user``, ``movie`` (integer codes) and ``rating`` (1..5).
    """
    rng = np.random.default_rng(seed)
    nu = nusers or int(round(ML1M[0] * scale))
    nm = nmovies or min(10_000, int(round(ML1M[1] * np.sqrt(scale))))
    nr = nratings or int(round(ML1M[2] * scale))
    counts = _activity(rng, nu, nr, nm)
    popularity = rng.lognormal(mean=0.0, sigma=1.2, size=nm)
    user, movie = _ratings_pattern(rng, counts, popularity)
    # relabel movies by a random permutation: the codes carry no popularity order
    movie = rng.permutation(nm)[movie]
    b_user, b_movie = rng.normal(0, 0.45, nu), rng.normal(0, 0.55, nm)
    latent = 3.58 + b_user[user] + b_movie[movie] + rng.normal(0, 0.9, len(user))
    rating = np.clip(np.rint(latent), 1, 5)
    return pd.DataFrame({"user": user, "movie": movie, "rating": rating})


def d3_like(seed: int = 1, *, n: int = D3[0], levels=D3[1]) -> pd.DataFrame:
    """A data set shaped like MixedModels' ``d3`` for ``y ~ 1 + u + (1+u|g) + (1+u|h) + (1+u|i)``.

    The three factors are crossed at random and ``u`` is uniform on 0..29. The effects are
    sized to match what MixedModels' tests publish of the real fit: β ≈ (0.50, 0.31), a
    residual variance (pwrss / n) of about 40.7 and a total leverage of about 8,800 of the
    9,864 random effects. With the defaults the fit gives 40.7, about 8,660 and an objective
    of 882,110 (the real d3: 40.7, 8,808 and 884,958).

    Parameters
    ----------
    seed : int, default=1
    n : int, default=130,418
    levels : tuple of int, default=(4726, 172, 34)
        Levels of ``g``, ``h`` and ``i``.

    Returns
    -------
    DataFrame with columns ``g``, ``h``, ``i`` (integer codes), ``u`` (0..29) and ``y``.
    """
    rng = np.random.default_rng(seed)
    codes = {name: rng.integers(0, nlev, n) for name, nlev in zip("ghi", levels)}
    u = rng.integers(0, 30, n).astype(float)
    y = 0.5 + 0.31 * u + rng.normal(0, 6.4, n)
    for (name, nlev), (sd0, sd1) in zip(zip("ghi", levels), [(5.0, 0.5), (4.0, 0.4), (3.0, 0.3)]):
        b0, b1 = rng.normal(0, sd0, nlev), rng.normal(0, sd1, nlev)
        y += b0[codes[name]] + b1[codes[name]] * u
    return pd.DataFrame({**codes, "u": u, "y": y})
