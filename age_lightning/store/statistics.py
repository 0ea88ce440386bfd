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

PRIOR_SALES = 50  # the weak prior of a cashier's share of minors: worth this many sales at the buyers' share
SHARES = 200  # the grid of shares of minors the posterior is computed on
PERMUTATIONS = (999, 9_999, 99_999)  # Monte Carlo draws per screened cashier, more while few reach theirs
ENOUGH = 10  # draws at or above a cashier's sum that make more draws pointless
SCREEN = 0.2  # cashiers whose normal-approximation p-value is below this get the Monte Carlo one


def permutation_p_values(
    cashier: np.ndarray,
    stratum: np.ndarray,
    score: np.ndarray,
    count: np.ndarray,
    cashiers: int,
    rng: np.random.Generator,
    permutations: tuple[int, ...] = PERMUTATIONS,
    screen: float = SCREEN,
    enough: float = 0.0,
) -> np.ndarray:
    """One-sided p-value per cashier that the sum of their sales' scores is as high as a random draw of as many
    sales of the same strata would give.

    Rows are cells: `count` sales of `cashier` in `stratum`, each with `score` (indices 0 .. n-1). The normal
    approximation of the exact null mean and variance screens every cashier; those below `screen` get a Monte
    Carlo p-value from draws without replacement (multivariate hypergeometric over the stratum's distinct
    scores), (1 + draws at or above theirs) / (1 + draws): the normal tail is too thin for the skewed scores of a
    few minors among many adults. The draws grow through `permutations` while fewer than ENOUGH reach the
    cashier's sum (each round drawn afresh), so the smallest p-value is 1 / (1 + permutations[-1]); they stop
    early once the p-value is below `enough`, a level below which every p-value leads to the same decision
    (Benjamini-Hochberg's smallest threshold, the false discovery rate over the number of cashiers).
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
    values: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # per stratum: its distinct scores, sales with each
    for who in np.flatnonzero(p < screen):
        cells = [(int(s), int(n)) for s, n in zip(pair[1][pair[0] == who], pair_count[pair[0] == who])]
        for s, _ in cells:
            if s not in values:
                distinct, index = np.unique(score[stratum == s], return_inverse=True)
                values[s] = (distinct, np.bincount(index.ravel(), count[stratum == s], len(distinct)).astype(np.int64))
        for draws in permutations:
            total = np.zeros(draws)
            for s, n in cells:
                distinct, colors = values[s]
                if n < len(colors):
                    drawn = rng.multivariate_hypergeometric(colors, n, size=draws, method="count")
                else:
                    drawn = rng.multivariate_hypergeometric(colors, n, size=draws, method="marginals")
                total += drawn @ distinct
            at_least = (total >= observed[who] - 1e-9 * max(1.0, abs(observed[who]))).sum()
            if at_least >= ENOUGH or (1 + at_least) / (1 + draws) < enough:
                break
        p[who] = (1 + at_least) / (1 + draws)
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


def minors_served(
    histogram: np.ndarray, p_minor: np.ndarray, base: float, rng: np.random.Generator, samples: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's expected number of minors served, and draws of that number for its interval.

    `histogram` (rows, cells) counts each group's (a cashier's) sales per cell; `p_minor` (replicates, cells) holds
    p_minor under the buyers' share `base` of minors, the first row the fitted one, the others refitted on resampled
    calibration photos. A cashier may serve more or fewer minors than `base`: their own share s is unknown, with a
    weak Beta prior at `base` worth PRIOR_SALES sales, and the likelihood of their answers under prior shift
    (Saerens et al. 2002: each answer's likelihood at each age fixed, the share free). Given s, each sale is a
    minor with p_minor re-weighted to s. Returns the posterior mean count (fitted p_minor) and, per row, `samples`
    draws of the count for each replicate (a share from its posterior, then a Poisson count: rare events, and no
    narrower than the Poisson-binomial).
    """
    grid = np.concatenate([[1e-6], np.geomspace(1e-4, 0.6, SHARES)])  # (shares,)
    prior = (PRIOR_SALES * base - 1) * np.log(grid) + (PRIOR_SALES * (1 - base) - 1) * np.log1p(-grid)
    means, drawn = np.zeros(len(histogram)), []
    for b, p in enumerate(np.atleast_2d(p_minor)):
        ratio = np.clip(p, 1e-12, 1 - 1e-12) / np.clip(1 - p, 1e-12, None) / (base / (1 - base))  # (cells,)
        scaled = grid[:, None] * (ratio - 1)  # (shares, cells)
        log_posterior = histogram @ np.log1p(scaled).T + prior  # (rows, shares)
        weight = np.exp(log_posterior - log_posterior.max(axis=1, keepdims=True))
        weight /= weight.sum(axis=1, keepdims=True)
        posterior = grid[:, None] * ratio / (scaled + 1)  # (shares, cells): each cell's p_minor at each share
        expected = histogram @ posterior.T  # (rows, shares)
        if b == 0:
            means = (weight * expected).sum(axis=1)
        uniform = rng.random((len(histogram), samples))
        chosen = (np.cumsum(weight, axis=1)[:, None, :] < uniform[..., None]).sum(axis=-1)  # (rows, samples)
        chosen = np.minimum(chosen, len(grid) - 1)
        drawn.append(rng.poisson(expected[np.arange(len(histogram))[:, None], chosen]))
    return means, np.concatenate(drawn, axis=1)
