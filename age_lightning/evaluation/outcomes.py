"""The evaluation's typed results: a rate with its exact bound, what an ID rule does to each group of buyers, and
the Challenge 25 age check. metrics.json holds them as `to_dict` writes them; the report reads them back with
`from_dict`."""

from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.stats import binomtest

from age_lightning.ages import ID_CHECK_AGE, LEGAL_AGE, TEEN_BAND, TEEN_YEARS, age_band
from age_lightning.id_rules import asks_unless_above

CONFIDENCE = 0.95
THRESHOLD_SEARCH = np.arange(LEGAL_AGE, 61)  # candidate ID-check thresholds, years


@dataclass(frozen=True)
class Rate:
    """count out of n: its share and the exact (Clopper-Pearson) two-sided interval's upper end (share and upper
    are None when n is 0: nothing to measure)."""

    count: int
    n: int
    share: float | None
    upper: float | None

    @classmethod
    def of(cls, count: int, n: int, confidence: float = CONFIDENCE) -> "Rate":
        if n == 0:
            return cls(0, 0, None, None)
        upper = binomtest(int(count), int(n)).proportion_ci(confidence_level=confidence, method="exact").high
        return cls(int(count), int(n), count / n, float(upper))


@dataclass(frozen=True)
class RuleOutcomes:
    """Whom an ID rule lets through (minors; 13-17 year olds, pooled and each year of age) and whom it asks (adults:
    its friction; 18-24)."""

    minors_pass_through: Rate
    teens_pass_through: Rate
    adult_friction: Rate
    young_adults_asked: Rate
    pass_through_by_age: dict[str, Rate]  # "13-17" and each year "13" .. "17": the minors the promise covers

    @classmethod
    def of(cls, real, asked) -> "RuleOutcomes":
        real, asked = np.asarray(real, float), np.asarray(asked, bool)
        minors, adults = real < LEGAL_AGE, real >= ID_CHECK_AGE
        teens = np.asarray(age_band(real)) == TEEN_BAND
        young_adults = (real >= LEGAL_AGE) & ~adults
        years = np.floor(real)
        by_age = {TEEN_BAND: teens, **{str(year): years == year for year in TEEN_YEARS}}
        return cls(
            minors_pass_through=Rate.of(int((~asked[minors]).sum()), int(minors.sum())),
            teens_pass_through=Rate.of(int((~asked[teens]).sum()), int(teens.sum())),
            adult_friction=Rate.of(int(asked[adults].sum()), int(adults.sum())),
            young_adults_asked=Rate.of(int(asked[young_adults].sum()), int(young_adults.sum())),
            pass_through_by_age={age: Rate.of(int((~asked[who]).sum()), int(who.sum())) for age, who in by_age.items()},
        )

    @classmethod
    def from_dict(cls, values: dict) -> "RuleOutcomes":
        """From a rule's entry in the metrics (its outcomes, beside other keys such as its setting); an entry
        written before pass_through_by_age existed has none."""
        rates = {f.name: Rate(**values[f.name]) for f in fields(cls) if f.name != "pass_through_by_age"}
        by_age = {age: Rate(**rate) for age, rate in values.get("pass_through_by_age", {}).items()}
        return cls(**rates, pass_through_by_age=by_age)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ThresholdSearch:
    """The smallest Challenge-25-style threshold whose minors' pass-through upper bound is at most `target`, with
    the adults it asks; `threshold` None (and a `reason`) when no threshold reaches it."""

    target: float
    threshold: float | None
    minors_upper: float | None = None
    adult_friction: Rate | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        if self.threshold is None:
            return {"target": self.target, "threshold": None, "reason": self.reason}
        return {
            "target": self.target,
            "threshold": self.threshold,
            "minors_upper": self.minors_upper,
            "adult_friction": asdict(self.adult_friction) if self.adult_friction else None,
        }

    @classmethod
    def from_dict(cls, values: dict) -> "ThresholdSearch":
        friction = values.get("adult_friction")
        return cls(**{**values, "adult_friction": Rate(**friction) if friction else None})


@dataclass(frozen=True)
class AgeCheck:
    """How an "ask for ID unless the predicted age is above `threshold`" policy works on a set: its outcomes
    (None when the set has no minors: not measurable) and the threshold a pass-through target would need."""

    threshold: float
    outcomes: RuleOutcomes | None
    search: ThresholdSearch | None
    confidence: float = CONFIDENCE

    @property
    def measurable(self) -> bool:
        return self.outcomes is not None

    @classmethod
    def of(cls, real, predicted, threshold: float = ID_CHECK_AGE, target: float = 0.01) -> "AgeCheck":
        real, predicted = np.asarray(real, float), np.asarray(predicted, float)
        minors = real < LEGAL_AGE
        if not minors.any():
            return cls(threshold, None, None)
        return cls(
            threshold,
            RuleOutcomes.of(real, asks_unless_above(predicted, threshold)),
            _threshold_for_target(predicted[minors], predicted[real >= ID_CHECK_AGE], target),
        )

    def to_dict(self) -> dict:
        """metrics.json's `age_check` entry."""
        if self.outcomes is None or self.search is None:
            return {"measurable": False, "reason": "not measurable: no minors in this set", "threshold": self.threshold}
        return {
            "measurable": True,
            "threshold": self.threshold,
            "confidence": self.confidence,
            **self.outcomes.to_dict(),
            "threshold_for_target": self.search.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: dict) -> "AgeCheck":
        if not values["measurable"]:
            return cls(values["threshold"], None, None)
        return cls(
            values["threshold"],
            RuleOutcomes.from_dict(values),
            ThresholdSearch.from_dict(values["threshold_for_target"]),
            values["confidence"],
        )


def not_asked(predicted: np.ndarray, threshold: float) -> Rate:
    return Rate.of(int((~asks_unless_above(predicted, threshold)).sum()), len(predicted))


def asked(predicted: np.ndarray, threshold: float) -> Rate:
    return Rate.of(int(asks_unless_above(predicted, threshold).sum()), len(predicted))


def _threshold_for_target(minors: np.ndarray, adults: np.ndarray, target: float) -> ThresholdSearch:
    """Smallest threshold (predicted ages of minors and of adults) meeting the pass-through target."""
    for t in THRESHOLD_SEARCH:
        passing = not_asked(minors, t)
        if passing.upper is not None and passing.upper <= target:
            return ThresholdSearch(target, float(t), passing.upper, asked(adults, t))
    best_possible = Rate.of(0, len(minors)).upper
    reason = (
        f"not reachable: with {len(minors)} minors the {CONFIDENCE:.0%} upper bound is at least "
        f"{best_possible:.3f} even if none passes"
        if best_possible > target
        else f"not reached for thresholds up to {THRESHOLD_SEARCH[-1]}"
    )
    return ThresholdSearch(target, None, reason=reason)
