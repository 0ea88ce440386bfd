"""Calibrated age intervals and the interval ID-check rule (split conformal prediction).

An uncertain model gives, per photo, an age and a scale (years). Calibration on labeled photos that were never
used for training or model choice turns them into guarantees that hold for new photos like those:

- **Interval** `[age + lower * scale, age + upper * scale]`: at most `alpha` of true ages fall below it and at
  most `alpha` above it. `lower`/`upper` are order statistics of the scores (true - age) / scale.
- **ID check, interval rule**: a buyer passes without being asked only if `age - margin * scale` (the ID lower
  bound) is above LEGAL_AGE; `margin` is set on the calibration photos of the promise's minors (`minor_ages`, by
  default the 13-17 year olds who try to buy alcohol) so that one passes with probability at most `max_pass`, and
  one of any single year of age (neighbouring years pooled where a year has too few photos, `year_groups`) with
  probability at most `max_pass_per_year`: the strictest of those cuts. The bounds are exact for any model and any
  data distribution, as long as the store's photos are exchangeable with the calibration photos (same camera, same
  population); recalibrate when they are not.

Both need enough photos: a bound at level a needs at least 1/a - 1 of them (of the promise's minors, for the ID
rule); with fewer there is no such bound, and `CalibrationError` says so, with the number needed, instead of
inventing one.

Two ways to promise more than exchangeability:

- **Worst group** (`groups`): the bounds are fitted in every group of the calibration photos (e.g. source folder,
  race) and the most conservative is kept, so the guarantee holds within each group, not just on average. The
  groups are needed only at calibration; the till applies one margin to everybody.
- **Shift allowance** (`shift` = rho, distributionally robust conformal prediction, Cauchois, Gupta, Ali and Duchi):
  the bounds hold for every population whose distribution Q is within KL(Q || P) <= rho of the calibration
  population P. An event of probability p under P has probability at most q under Q, where kl(q || p) = rho
  (binary KL), so each level is fitted at the smaller p that keeps q at the level asked for.
  What it does not promise: a population further away than rho (a store's camera, light or customers may be),
  and the levels get stricter as rho grows, so more adults are asked for ID.
"""

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from age_lightning.ages import ID_CHECK_AGE, LEGAL_AGE, MAX_AGE, MIN_AGE
from age_lightning.errors import UserError
from age_lightning.id_rules import interval_asks

ALPHA = 0.05  # per side: a 90% interval
MAX_PASS = 0.02  # share of the promise's minors the interval ID rule may let through
MAX_PASS_PER_YEAR = 0.03  # and of each year of age among them
MINOR_AGES = (13, 17)  # the promise's population: the minors old enough to try to buy alcohol (whole years)
ALL_MINORS = (0, LEGAL_AGE - 1)  # what calibrations written before `minor_ages` existed were fitted on
SMALL_GROUPS = ("error", "skip")


@dataclass
class CalibrationSettings:
    """What to calibrate for (the `calibration` config node is generated from these defaults): train.py uses the
    calibration split, recalibrate.py any labeled folder."""

    alpha: float = ALPHA  # per side: at most alpha of true ages below the interval and alpha above it
    max_pass: float = MAX_PASS  # interval ID rule: a minor of minor_ages passes unasked with probability <= this
    minor_ages: list = field(default_factory=lambda: list(MINOR_AGES))  # the promise's minors: [first, last] year
    max_pass_per_year: float | None = MAX_PASS_PER_YEAR  # and each year of them (null: the pooled cap only)
    shift: float = 0.0  # KL shift allowance: the bounds hold for populations within this distance
    groups: list = field(default_factory=list)  # fit in every group of these columns (source and/or labels.csv
    #                             columns, e.g. [source,race]) and keep the strictest
    small_groups: str = "error"  # a group with too few photos or minors: error (naming it) | skip (recorded)


class CalibrationError(UserError):
    """The calibration photos cannot support the bound asked for."""


def nominal_quantile(head: str, p: float) -> float:
    """Quantile p of the head's standard distribution (scale 1): the uncalibrated interval's multiplier."""
    if head == "laplace":
        return math.log(2 * p) if p < 0.5 else -math.log(2 * (1 - p))
    return NormalDist().inv_cdf(p)


def _order_statistic(values: np.ndarray, k: int, what: str, level: float) -> float:
    """The k-th smallest value (1-based), or a CalibrationError when k falls outside the sample."""
    n = len(values)
    if not 1 <= k <= n:
        needed = math.ceil(1 / level - 1)
        raise CalibrationError(
            f"{n} calibration {what} are too few for a bound at {level:.3g}: it needs at "
            f"least {needed}; add labeled photos or relax the level"
        )
    return float(np.sort(values)[k - 1])


def interval_multipliers(ages, predicted, scale, alpha: float = ALPHA) -> tuple[float, float]:
    """Split-conformal (lower, upper) multipliers of the scale: P(true < lower bound) <= alpha, same above."""
    scores = (np.asarray(ages, float) - np.asarray(predicted, float)) / np.asarray(scale, float)
    n = len(scores)
    lower = _order_statistic(scores, math.floor(alpha * (n + 1)), "photos", alpha)
    upper = _order_statistic(scores, math.ceil((1 - alpha) * (n + 1)), "photos", alpha)
    return lower, upper


def minors_aged(ages, minor_ages) -> np.ndarray:
    """Which ages belong to the promise's population: whole years first..last, under LEGAL_AGE."""
    first, last = minor_ages
    ages = np.asarray(ages, float)
    return (ages >= first) & (ages < last + 1) & (ages < LEGAL_AGE)


def _minor_scores(ages, score, minor_ages) -> tuple[np.ndarray, np.ndarray]:
    """The calibration photos of the promise's population: their years and scores."""
    first, last = minor_ages
    ages = np.asarray(ages, float)
    chosen = minors_aged(ages, minor_ages)
    if not chosen.any():
        raise CalibrationError(
            f"the calibration photos hold no minors aged {first}-{last}: the ID rule's pass-through cannot be "
            f"bounded; add labeled photos of minors"
        )
    return np.floor(ages[chosen]).astype(int), np.asarray(score, float)[chosen]


def _cut(scores: np.ndarray, level: float, what: str) -> tuple[float, float]:
    """The cut c with P(a new score > c) <= level, and its finite-sample bound k / (n + 1) (the exact probability
    for exchangeable scores without ties). c is the k-th largest of the n scores with k = floor(level * (n + 1)): a
    new score is above it only if it ranks among the top k of the n + 1."""
    n = len(scores)
    k = math.floor(level * (n + 1))
    return _order_statistic(scores, n + 1 - k, what, level), k / (n + 1)


def year_groups(years: np.ndarray, level: float) -> list[tuple[int, int]]:
    """Whole years pooled with their neighbours, youngest first, until each group holds the 1 / level - 1 photos a
    cut at `level` needs (a last group short of it joins the one before); one group when even all of them fall
    short (its cut then says how many are needed)."""
    needed = math.ceil(1 / level - 1)
    groups, start, count = [], int(years.min()), 0
    for year in range(int(years.min()), int(years.max()) + 1):
        count += int((years == year).sum())
        if count >= needed:
            groups.append((start, year))
            start, count = year + 1, 0
    if start <= years.max():
        groups = [*groups[:-1], (groups[-1][0] if groups else start, int(years.max()))]
    return groups


def pass_cut(ages, score, max_pass: float = MAX_PASS, minor_ages=ALL_MINORS, max_pass_per_year=None) -> float:
    """The cut c such that a new minor of `minor_ages` scores above it with probability <= max_pass, and one of
    each year (or group of years, `year_groups`) with probability <= max_pass_per_year: the strictest of those
    cuts (`teen_cuts` has each)."""
    return teen_cuts(ages, score, max_pass, minor_ages, max_pass_per_year)["cut"]


def teen_cuts(ages, score, max_pass: float, minor_ages, max_pass_per_year) -> dict:
    """The pooled cut over the promise's minors, each year group's cut, their finite-sample bounds, and the
    strictest (`cut`)."""
    years, scores = _minor_scores(ages, score, minor_ages)
    first, last = minor_ages
    cut, bound = _cut(scores, max_pass, f"minors aged {first}-{last}")
    groups: list[dict] = []
    for low, high in year_groups(years, max_pass_per_year) if max_pass_per_year else ():
        chosen = (years >= low) & (years <= high)
        name = str(low) if low == high else f"{low}-{high}"
        year_cut, year_bound = _cut(scores[chosen], max_pass_per_year, f"minors aged {name}")
        groups.append({"ages": name, "photos": int(chosen.sum()), "cut": year_cut, "bound": year_bound})
    return {
        "cut": max([cut, *(float(group["cut"]) for group in groups)]),
        "pooled": {"photos": len(scores), "cut": cut, "bound": bound},
        "years": groups,
    }


def binary_kl(q: float, p: float) -> float:
    """KL divergence between Bernoulli(q) and Bernoulli(p)."""

    def term(a, b):
        return 0.0 if a == 0 else a * math.log(a / b)

    return term(q, p) + term(1 - q, 1 - p)


def robust_level(level: float, shift: float) -> float:
    """The level p to fit at so that an event of probability p has probability at most `level` under any
    distribution within KL divergence `shift` of the calibration one: kl(level || p) = shift, p <= level."""
    if shift <= 0:
        return level
    low, high = 0.0, level
    for _ in range(100):
        middle = (low + high) / 2
        if binary_kl(level, middle) > shift:
            low = middle
        else:
            high = middle
    return high


class Fit(NamedTuple):
    """The bounds fitted on one set of calibration photos, and the margin's cuts (`teen_cuts`)."""

    lower: float
    upper: float
    margin: float
    point_threshold: float
    promise: dict


def _pooled_fit(ages, predicted, scale, alpha: float, max_pass: float, minor_ages, max_pass_per_year) -> Fit:
    lower, upper = interval_multipliers(ages, predicted, scale, alpha)
    predicted = np.asarray(predicted, float)
    levels = (max_pass, minor_ages, max_pass_per_year)
    cuts = teen_cuts(ages, (predicted - LEGAL_AGE) / np.asarray(scale, float), *levels)
    return Fit(lower, upper, cuts["cut"], pass_cut(ages, predicted, *levels), cuts)


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """What calibration found; travels in the checkpoint and in model.json."""

    alpha: float
    lower: float
    upper: float
    max_pass: float
    margin: float  # interval rule: pass when age - margin * scale > LEGAL_AGE
    point_threshold: float  # the point rule calibrated the same way (pass when age > it), for comparison
    photos: int
    minors: int
    source: str = ""
    shift: float = 0.0  # the KL shift allowance the levels were fitted for (0: exchangeability only)
    groups: dict | None = None  # worst-group calibration: columns, each group's margin, skipped groups, friction
    minor_ages: tuple[int, int] = ALL_MINORS  # the minors the margin was fitted on (first, last whole year)
    max_pass_per_year: float | None = None  # the cap on each year of them (None: the pooled cap only)
    promise: dict | None = None  # the margin's cuts: pooled and per year group, with photos and finite-sample bounds

    @classmethod
    def fit(
        cls,
        ages,
        predicted,
        scale,
        alpha: float = ALPHA,
        max_pass: float = MAX_PASS,
        source: str = "",
        shift: float = 0.0,
        groups=None,
        group_columns: tuple[str, ...] = (),
        small_groups: str = "error",
        minor_ages=MINOR_AGES,
        max_pass_per_year: float | None = MAX_PASS_PER_YEAR,
    ) -> "Calibration":
        """Fit on the calibration photos; the ID margin on the minors aged minor_ages (pooled at max_pass, and each
        year at max_pass_per_year); with `groups` (one label per photo) in every group, keeping the most
        conservative bounds; with `shift`, at the levels that hold within that KL distance."""
        ages, predicted, scale = (np.asarray(a, float) for a in (ages, predicted, scale))
        minor_ages = (int(minor_ages[0]), int(minor_ages[1]))
        if not 0 <= minor_ages[0] <= minor_ages[1] < LEGAL_AGE:
            raise UserError(f"calibration.minor_ages must be [first, last] years under {LEGAL_AGE}, got {minor_ages}")
        fit_alpha, fit_pass = robust_level(alpha, shift), robust_level(max_pass, shift)
        fit_year = robust_level(max_pass_per_year, shift) if max_pass_per_year else None
        levels = (fit_alpha, fit_pass, minor_ages, fit_year)
        pooled = _pooled_fit(ages, predicted, scale, *levels)
        found = None
        if groups is not None:
            per_group, skipped = _group_fits(ages, predicted, scale, np.asarray(groups), *levels, small_groups)
            fits = list(per_group.values())
            worst = Fit(
                lower=min(f.lower for f in fits),
                upper=max(f.upper for f in fits),
                margin=max(f.margin for f in fits),
                point_threshold=max(f.point_threshold for f in fits),
                promise=pooled.promise,  # the cuts on all the calibration photos; each group's margin is below
            )
            adults = ages >= ID_CHECK_AGE
            found = {
                "columns": list(group_columns),
                "margins": {g: f.margin for g, f in per_group.items()},
                "skipped": skipped,
                "pooled_margin": pooled.margin,
                "adults_asked_pooled": _asked_share(predicted, scale, pooled.margin, adults),
                "adults_asked": _asked_share(predicted, scale, worst.margin, adults),
            }
            pooled = worst
        return cls(
            alpha=alpha,
            max_pass=max_pass,
            **pooled._asdict(),
            photos=len(ages),
            minors=int(np.sum(ages < LEGAL_AGE)),
            source=source,
            shift=shift,
            groups=found,
            minor_ages=minor_ages,
            max_pass_per_year=max_pass_per_year,
        )

    @classmethod
    def from_dict(cls, data: dict | None) -> "Calibration | None":
        """From `to_dict`'s form; one written before `minor_ages` existed was fitted on every minor."""
        if not data:
            return None
        return cls(**{**data, "minor_ages": tuple(data.get("minor_ages", ALL_MINORS))})

    def to_dict(self) -> dict:
        return asdict(self)

    def bounds(self, predicted, scale) -> tuple[np.ndarray, np.ndarray]:
        """The calibrated interval, within the valid age range."""
        predicted, scale = np.asarray(predicted, float), np.asarray(scale, float)
        return (
            np.clip(predicted + self.lower * scale, MIN_AGE, MAX_AGE),
            np.clip(predicted + self.upper * scale, MIN_AGE, MAX_AGE),
        )

    def id_lower_bound(self, predicted, scale) -> np.ndarray:
        return np.clip(np.asarray(predicted, float) - self.margin * np.asarray(scale, float), MIN_AGE, MAX_AGE)

    def asks_for_id(self, predicted, scale) -> np.ndarray:
        return interval_asks(predicted, scale, self.margin)


def _group_fits(
    ages, predicted, scale, groups, alpha, max_pass, minor_ages, max_pass_per_year, small_groups: str
) -> tuple[dict[str, Fit], dict]:
    """Each group's Fit; groups too small for the levels raise or are skipped."""
    if small_groups not in SMALL_GROUPS:
        raise UserError(f"calibration.small_groups must be one of {SMALL_GROUPS}, got {small_groups!r}")
    fits, skipped = {}, {}
    for group in sorted(set(groups.tolist())):
        chosen = groups == group
        try:
            fits[str(group)] = _pooled_fit(
                ages[chosen], predicted[chosen], scale[chosen], alpha, max_pass, minor_ages, max_pass_per_year
            )
        except CalibrationError as error:
            if small_groups == "error":
                raise CalibrationError(
                    f"calibration group {group!r}: {error} (or calibration.small_groups=skip to leave it out)"
                ) from None
            skipped[str(group)] = int(minors_aged(ages[chosen], minor_ages).sum())
    if not fits:
        raise CalibrationError(f"no calibration group has enough photos and minors (groups: {skipped})")
    return fits, skipped


def _asked_share(predicted, scale, margin: float, adults) -> float | None:
    """Share of the adults asked for ID by the interval rule at `margin` (the friction it costs)."""
    return float(np.mean(interval_asks(predicted[adults], scale[adults], margin))) if adults.any() else None


def promise_in_words(calibration: Calibration) -> str:
    """What the interval rule's margin promises, naming the ages it covers and the bounds the photos support."""
    first, last = calibration.minor_ages
    promise = calibration.promise or {}
    pooled = promise.get("pooled")
    said = f"a minor aged {first}-{last} passes unasked with probability at most {calibration.max_pass:.1%}" + (
        f" ({pooled['bound']:.2%} with {pooled['photos']} calibration photos of them)" if pooled else ""
    )
    years = promise.get("years") or []
    if years:
        each = ", ".join(f"{g['ages']}: {g['bound']:.2%} of {g['photos']}" for g in years)
        said += f"; each year (or group of years) at most {calibration.max_pass_per_year:.1%} ({each})"
    if calibration.shift:
        said += f"; for any population within KL {calibration.shift:g} of the calibration photos"
    return said
