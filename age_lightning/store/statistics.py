"""The audit's statistics, on counts: a stratified permutation test of one cashier's sales against their
store's, Benjamini-Hochberg over cashiers, and exact binomial bounds.

The permutation test asks: if this cashier's alcohol sales were a random draw from the sales of their store in the
same weeks (the stratum), how likely is a sum of per-sale scores as high as theirs? It conditions on the store's
buyers, so a store near a school does not flag its cashiers. The null mean and variance of the sum are exact
(sampling without replacement, stratum by stratum); the normal tail of the standardized sum screens, and the
cashiers it cannot clear get a Monte Carlo p-value from draws of the same strata. The tests and the benchmark check
the false-alarm rate over many generated stores.
"""

import numpy as np
from scipy.stats import beta, norm

PERMUTATIONS = 4999  # Monte Carlo draws per screened cashier: the smallest p-value is 1 / (1 + PERMUTATIONS)
SCREEN = 0.2  # cashiers whose normal-approximation p-value is below this get the Monte Carlo one


def permutation_p_values(
    cashier: np.ndarray,
    stratum: np.ndarray,
    score: np.ndarray,
    count: np.ndarray,
    cashiers: int,
    rng: np.random.Generator,
    permutations: int = PERMUTATIONS,
    screen: float = SCREEN,
) -> np.ndarray:
    """One-sided p-value per cashier that the sum of their sales' scores is as high as a random draw of as many
    sales of the same strata would give.

    Rows are cells: `count` sales of `cashier` in `stratum`, each with `score` (indices 0 .. n-1). The normal
    approximation of the exact null mean and variance screens every cashier; those below `screen` get a Monte
    Carlo p-value from `permutations` draws without replacement (multivariate hypergeometric over the stratum's
    distinct scores), (1 + draws at or above theirs) / (1 + permutations): the normal tail is too thin for the
    skewed scores of a few minors among many adults.
    """
    count = np.asarray(count, np.int64)
    strata = int(stratum.max()) + 1 if len(stratum) else 0
    n_s = np.bincount(stratum, count, strata)
    mean_s = np.bincount(stratum, count * score, strata) / np.maximum(n_s, 1)
    variance_s = np.maximum(np.bincount(stratum, count * score**2, strata) / np.maximum(n_s, 1) - mean_s**2, 0)
    pair, pair_index = np.unique(np.stack([cashier, stratum]), axis=1, return_inverse=True)
    pair_count = np.bincount(pair_index.ravel(), count, pair.shape[1])
    finite = pair_count * (n_s[pair[1]] - pair_count) / np.maximum(n_s[pair[1]] - 1, 1)
    observed = np.bincount(cashier, count * score, cashiers)
    expected = np.bincount(pair[0], pair_count * mean_s[pair[1]], cashiers)
    variance = np.bincount(pair[0], finite * variance_s[pair[1]], cashiers)
    z = np.divide(observed - expected, np.sqrt(variance), out=np.zeros(cashiers), where=variance > 0)
    p = np.where(variance > 0, norm.sf(z), 1.0)
    values = {}  # per stratum: its distinct scores and how many sales have each
    for who in np.flatnonzero(p < screen):
        total = np.zeros(permutations)
        for s, n in zip(pair[1][pair[0] == who], pair_count[pair[0] == who].astype(np.int64)):
            if s not in values:
                distinct, index = np.unique(score[stratum == s], return_inverse=True)
                values[s] = (distinct, np.bincount(index.ravel(), count[stratum == s], len(distinct)).astype(np.int64))
            distinct, colors = values[s]
            total += rng.multivariate_hypergeometric(colors, n, size=permutations) @ distinct
        at_least = (total >= observed[who] - 1e-9 * max(1.0, abs(observed[who]))).sum()
        p[who] = (1 + at_least) / (1 + permutations)
    return p


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values): flag those <= the false discovery rate."""
    p = np.asarray(p_values, float)
    if len(p) == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty_like(p)
    q[order] = np.minimum(adjusted, 1.0)
    return q


def clopper_pearson(successes, trials, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial bounds of a share (nan where there are no trials)."""
    k, n = np.asarray(successes, float), np.asarray(trials, float)
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, beta.ppf(tail, k, n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(1 - tail, k + 1, n - k), 1.0)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def minors_served(histogram: np.ndarray, p_minor: np.ndarray, base: float, steps: int = 40):
    """Each row's expected number of minors, with the row's own share of minors estimated from its answers.

    `histogram` (rows, cells) counts each group's sales per cell; `p_minor` (cells) was computed for buyers with a
    share `base` of minors. A group (a cashier) may serve more or fewer minors than that: its share is the maximum
    likelihood one under prior shift (Saerens et al. 2002: the likelihood of each answer fixed, the share free),
    found by bisection of the likelihood's slope, and p_minor re-weighted to it. Returns (expected count, its
    Poisson-binomial variance) per row.
    """
    ratio = np.clip(p_minor, 1e-12, 1 - 1e-12) / np.clip(1 - p_minor, 1e-12, None) / (base / (1 - base))

    def slope(share: np.ndarray) -> np.ndarray:
        return (histogram * (ratio - 1) / (share[:, None] * (ratio - 1) + 1)).sum(axis=1)

    low, high = np.zeros(len(histogram)), np.ones(len(histogram))
    for _ in range(steps):
        middle = (low + high) / 2
        rising = slope(middle) > 0
        low, high = np.where(rising, middle, low), np.where(rising, high, middle)
    share = (low + high) / 2
    posterior = share[:, None] * ratio / (share[:, None] * (ratio - 1) + 1)
    return (histogram * posterior).sum(axis=1), (histogram * posterior * (1 - posterior)).sum(axis=1)
