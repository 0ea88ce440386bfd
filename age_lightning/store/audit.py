"""The cashier audit: from a store's sales log and the exported model, which cashiers sell alcohol to buyers who
look under age, with a stated false-alarm rate.

1. The log is read in batches and reduced to counts (store/tally.py): bounded memory for a chain's year.
2. Each sale's `p_minor` comes from the model's error model and the buyers' age mix (minor_probability.py).
3. Each cashier is tested against the other cashiers of their store, week by week (statistics.py):
   - `checks` (the log has `id_checked`): of the sales the ID rule would have asked for, the share without a
     recorded check;
   - `photos` (no `id_checked`): the sum of a per-sale score of how young the buyer looks (`p_minor`, or the
     log-likelihood ratio of a cashier who serves minors at `alternative_minors` against the store's mix).
4. Benjamini-Hochberg over the judged cashiers at `fdr`: among flagged cashiers, at most that share are expected
   to be diligent. A flag is a reason to review the sales in the queue, not proof.
"""

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np

from age_lightning.deploy.configs import option
from age_lightning.deploy.model_file import ModelFile
from age_lightning.errors import UserError
from age_lightning.minor_probability import BUYERS, MinorProbability, replicates
from age_lightning.shares import CELLS, DEFAULT_METHOD, ESTIMATORS, Cells, ErrorModel
from age_lightning.store.sales_log import Columns, batches, open_log
from age_lightning.store.statistics import (
    benjamini_hochberg,
    clopper_pearson,
    minors_served,
    permutation_p_values,
)
from age_lightning.store.tally import CHECKED, NOT_CHECKED, UNKNOWN, Tally

TESTS = ("auto", "checks", "photos")
STATISTICS = ("p_minor", "likelihood_ratio")
BUYER_SOURCES = ("stated", "estimated")
LISTED_PROBLEMS = 1000  # audit.json lists this many bad rows; problems.csv lists them all


@dataclass
class AuditSettings:
    """How the audit judges (the audit command's options beside log, model and out)."""

    fdr: float = option(0.10, "false discovery rate: the share of flags that may be diligent cashiers")
    min_sales: int = option(100, "alcohol sales a cashier needs to be judged")
    level: float = option(0.95, "level of the intervals and bounds")
    test: str = option("auto", "checks (needs id_checked) | photos | auto: checks where the log has id_checked")
    statistic: str = option("likelihood_ratio", "the photos test's per-sale score: likelihood_ratio | p_minor")
    alternative_minors: float = option(0.03, "likelihood_ratio: the minors' share of a cashier who asks nobody")
    by_week: bool = option(True, "compare a cashier with their store's sales of the same weeks (needs time)")
    buyers: str = option("stated", "the buyers' age mix behind p_minor: stated (buyers_mix) | estimated (the log's)")
    buyers_mix: dict = field(default_factory=lambda: dict(BUYERS), metadata={"help": "band shares, buyers=stated"})
    bootstrap: int = option(100, "resamples of the error model for the intervals of expected minors")
    review: int = option(10, "sales per flagged cashier in the review queue")
    seed: int = option(0, "seed of the bootstrap")

    def check(self) -> None:
        if not 0 < self.fdr < 1 or not 0 < self.level < 1:
            raise UserError(f"fdr and level must be between 0 and 1, got {self.fdr} and {self.level}")
        for name, value, allowed in (
            ("test", self.test, TESTS),
            ("statistic", self.statistic, STATISTICS),
            ("buyers", self.buyers, BUYER_SOURCES),
        ):
            if value not in allowed:
                raise UserError(f"{name} must be one of {allowed}, got {value!r}")
        if not 0 < self.alternative_minors < 1 or self.min_sales < 1:
            raise UserError("alternative_minors must be between 0 and 1 and min_sales >= 1")


@dataclass
class AuditResult:
    cashiers: list[dict]
    tills: list[dict]
    stores: list[dict]
    review: list[dict]
    problems: list[dict]
    problem_count: int
    problem_reasons: dict[str, int]
    rows: int
    alcohol_sales: int
    test: str
    probability: MinorProbability
    settings: AuditSettings

    def to_dict(self) -> dict:
        settings = {f.name: getattr(self.settings, f.name) for f in fields(AuditSettings)}
        return {
            "test": self.test,
            "settings": settings,
            "p_minor": self.probability.describe(),
            "rows": self.rows,
            "alcohol_sales": self.alcohol_sales,
            "cashiers": self.cashiers,
            "tills": self.tills,
            "stores": self.stores,
            "review": self.review,
            "problem_count": self.problem_count,
            "problem_reasons": self.problem_reasons,
            "problems": self.problems,
        }


Answer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None, list[str]]]


def run_audit(
    log: str | Path,
    model: ModelFile,
    settings: AuditSettings,
    columns: Columns | None = None,
    answer_photos: Answer | None = None,
    on_problems: Callable[[list[tuple[int, str]]], None] = lambda problems: None,
) -> AuditResult:
    """Audit `log`. answer_photos(paths) -> (ages, scales, statuses) answers a log that has photos instead of
    answers; on_problems receives every bad row (line, reason), batch by batch."""
    settings.check()
    error_model = model.error_model
    if error_model is None:
        raise UserError("this model.json has no error model: calibrate and export it again (recalibrate.py)")
    path, present = open_log(log, columns or Columns())
    if not model.uncertain:
        present.pop("age_scale", None)
    has_checks = "id_checked" in present
    test = settings.test if settings.test != "auto" else ("checks" if has_checks else "photos")
    if test == "checks" and not has_checks:
        raise UserError(f"test=checks needs the log's {present.get('id_checked', 'id_checked')} column")
    id_check = model.spec.id_check
    tally = Tally(settings.review)
    listed: list[dict] = []
    reasons: dict[str, int] = {}
    rows = 0

    def report(problems: list[tuple[int, str]]) -> None:
        on_problems(problems)
        for line, reason in problems:
            reasons[reason] = reasons.get(reason, 0) + 1
            if len(listed) < LISTED_PROBLEMS:
                listed.append({"line": line, "reason": reason})

    for batch in batches(path, present):
        rows += batch.rows
        report(batch.problems)
        keep = np.ones(len(batch.line), bool)
        predicted, scale = batch.predicted_age, batch.age_scale
        if batch.photo is not None:
            if answer_photos is None:
                raise UserError("the log has photos but no answers: give the model's .onnx to answer them")
            files = np.array([str(Path(path).parent / photo) for photo in batch.photo])
            predicted, scale, statuses = answer_photos(files)
            keep = np.array([status == "ok" for status in statuses], bool)
            report([(int(n), f"photo: {s}") for n, s, ok in zip(batch.line, statuses, keep) if not ok])
        if not keep.any():
            continue
        predicted = np.asarray(predicted, float)[keep]
        scale = None if scale is None else np.asarray(scale, float)[keep]
        checked = (
            np.full(len(predicted), UNKNOWN)
            if batch.id_checked is None
            else np.where(batch.id_checked[keep], CHECKED, NOT_CHECKED)
        )
        week = batch.week[keep] if settings.by_week else np.zeros(len(predicted), np.int64)
        tally.add(
            {name: values[keep] for name, values in batch.keys.items()},
            week,
            predicted,
            id_check.asks_for_id(predicted, scale),
            checked,
            batch.line[keep],
        )
    if tally.rows == 0:
        raise UserError(f"log {path}: no alcohol sale with an answer to audit ({rows} rows read)")
    counts, names = tally.counts()
    probability = _probability(error_model, counts, settings)
    table = _per_cashier(counts, names, probability, error_model, settings, test)
    return AuditResult(
        cashiers=table["cashiers"],
        tills=table["tills"],
        stores=table["stores"],
        review=_review(
            tally.review, probability, {(c["store"], c["cashier"]) for c in table["cashiers"] if c["flagged"]}
        ),
        problems=listed,
        problem_count=sum(reasons.values()),
        problem_reasons=dict(sorted(reasons.items(), key=lambda item: -item[1])),
        rows=rows,
        alcohol_sales=tally.rows,
        test=test,
        probability=probability,
        settings=settings,
    )


def _probability(error_model: ErrorModel, counts: dict, settings: AuditSettings) -> MinorProbability:
    if settings.buyers == "stated":
        return MinorProbability.fit(error_model, settings.buyers_mix, "stated")
    histogram = np.bincount(counts["cell"], counts["sales"], len(CELLS))
    seen = np.flatnonzero(histogram)
    [mix] = ESTIMATORS[DEFAULT_METHOD](error_model, Cells(seen, histogram[seen][None]))
    return MinorProbability.fit(
        error_model, mix, f"estimated from the log's {int(histogram.sum())} answers ({DEFAULT_METHOD})"
    )


def _scores(probability: MinorProbability, settings: AuditSettings) -> np.ndarray:
    """The per-sale score of the photos test, per cell."""
    p = probability.p_minor
    if settings.statistic == "p_minor":
        return p
    base = probability.minors_share
    alternative = settings.alternative_minors
    return np.log((1 - alternative) * (1 - p) / (1 - base) + alternative * p / base)


def _per_cashier(
    counts: dict,
    names: dict[str, list[tuple]],
    probability: MinorProbability,
    error_model: ErrorModel,
    settings: AuditSettings,
    test: str,
):
    sales, cell = counts["sales"].astype(float), counts["cell"]
    base = probability.minors_share
    rng = np.random.default_rng(settings.seed)
    draws = replicates(error_model, probability.buyers, settings.bootstrap, rng)  # (B, cells)
    tail = 100 * (1 - settings.level) / 2
    asked = counts["asked"]
    unchecked = asked & (counts["checked"] == NOT_CHECKED)
    recorded = asked & (counts["checked"] != UNKNOWN)

    def summary(code: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """Sales, expected minors with its interval, asked and unchecked, per group code."""
        histogram = np.zeros((n, len(CELLS)))
        np.add.at(histogram, (code, cell), sales)
        expected, drawn = minors_served(histogram, np.vstack([probability.p_minor, draws]), base, rng)
        low = np.percentile(drawn, tail, axis=1, method="lower")  # counts: the interval's ends are counts too
        high = np.percentile(drawn, 100 - tail, axis=1, method="higher")
        return {
            "alcohol_sales": np.bincount(code, sales, n),
            "expected": expected,
            "low": np.maximum(low, 0),
            "high": high,
            "asked": np.bincount(code, sales * asked, n),
            "recorded": np.bincount(code, sales * recorded, n),
            "unchecked": np.bincount(code, sales * unchecked, n),
        }

    def rows(keys: list[tuple], names: tuple[str, ...], values: dict[str, np.ndarray]) -> list[dict]:
        low, high = clopper_pearson(values["unchecked"], values["recorded"], settings.level)
        out = []
        for i, key in enumerate(keys):
            row = dict(zip(names, key)) | {
                "alcohol_sales": int(values["alcohol_sales"][i]),
                "expected_minors": {
                    "value": round(float(values["expected"][i]), 2),
                    "low": round(float(values["low"][i]), 2),
                    "high": round(float(values["high"][i]), 2),
                },
                "rule_asked": int(values["asked"][i]),
            }
            if values["recorded"][i] > 0 or test == "checks":
                row["asked_without_check"] = {
                    "count": int(values["unchecked"][i]),
                    "of": int(values["recorded"][i]),
                    "low": None if np.isnan(low[i]) else round(float(low[i]), 4),
                    "high": None if np.isnan(high[i]) else round(float(high[i]), 4),
                }
            out.append(row)
        return out

    cashier, cashier_keys = counts["cashier"], names["cashier"]
    till, till_keys = counts["till"], names["till"]
    store, store_keys = counts["store"], names["store"]
    _, stratum = np.unique(store * (counts["week"].max() + 2) + counts["week"] + 1, return_inverse=True)
    stratum = stratum.ravel()
    values = summary(cashier, len(cashier_keys))
    cashiers = rows(cashier_keys, ("store", "cashier"), values)

    if test == "checks":
        population, score = recorded, unchecked.astype(float)
    else:
        population, score = np.ones(len(sales), bool), _scores(probability, settings)[cell]
    weight = sales * population
    judged = values["alcohol_sales"] >= settings.min_sales
    enough = settings.fdr / max(int(judged.sum()), 1)  # below it, Benjamini-Hochberg flags whatever the exact p
    p_values = permutation_p_values(cashier, stratum, score, weight, len(cashier_keys), rng, enough=enough)
    tested = np.bincount(cashier, weight, len(cashier_keys))
    q_values = np.ones(len(cashier_keys))
    q_values[judged] = benjamini_hochberg(p_values[judged])
    for i, row in enumerate(cashiers):
        row |= {
            "tested_sales": int(tested[i]),
            "p_value": round(float(p_values[i]), 6),
            "q_value": round(float(q_values[i]), 6) if judged[i] else None,
            "judged": bool(judged[i]),
            "flagged": bool(judged[i] and q_values[i] <= settings.fdr),
            "note": ""
            if judged[i]
            else f"too few alcohol sales to judge: {row['alcohol_sales']} of the {settings.min_sales} needed",
        }
    return {
        "cashiers": cashiers,
        "tills": rows(till_keys, ("store", "till"), summary(till, len(till_keys))),
        "stores": rows(store_keys, ("store",), summary(store, len(store_keys))),
    }


def _review(candidates: dict | None, probability: MinorProbability, flagged: set) -> list[dict]:
    """The sales to look at first for each flagged cashier: the highest p_minor first."""
    if not candidates or not flagged:
        return []
    p_minor, _ = probability.of(candidates["predicted_age"])
    queue = [
        {
            "store": str(store),
            "cashier": str(cashier),
            "till": str(till),
            "sale_id": str(sale),
            "time": str(time),
            "line": int(line),
            "predicted_age": round(float(age), 1),
            "p_minor": round(float(p), 4),
        }
        for store, cashier, till, sale, time, line, age, p in zip(
            candidates["store"],
            candidates["cashier"],
            candidates["till"],
            candidates["sale_id"],
            candidates["time"],
            candidates["line"],
            candidates["predicted_age"],
            p_minor,
        )
        if (store, cashier) in flagged
    ]
    return sorted(queue, key=lambda row: (row["store"], row["cashier"], -row["p_minor"], row["line"]))
