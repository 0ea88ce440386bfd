"""A store to try the audit on: a realistic sales log generated from labeled photos the model never trained on.

Stores, tills and cashiers with stated behaviours: a cashier asks a buyer for ID with their own probability when
the buyer *looks* under 25 to a person (the buyer's true age plus a person's error, `eye_error` years: not the
model's estimate). A minor who is asked is refused, and the refused attempt never reaches the log; an adult who is
asked shows ID (`id_checked`). Each buyer's photo is drawn from the labeled photos of their age and answered by
the model, as the till's service would. Other (non-alcohol) sales fill the log, and every sale has a category whose
buyers' ages differ.

`sales` is what a store has; `truth` (each sale's true age and whether the cashier asked), `cashiers` (each
cashier's behaviour) and `categories` (each category's true age-band mix) are what scores the audit.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from age_lightning.ages import AGE_BANDS, ID_CHECK_AGE, LEGAL_AGE
from age_lightning.deploy.configs import option
from age_lightning.errors import UserError
from age_lightning.shares import BANDS, band_index

BEHAVIOURS = {"negligent": 0.10, "lax": 0.50, "diligent": 0.95}  # how often each asks a buyer who looks under 25
# Alcohol buyers' ages: 13-17 (the minors who try, by `minors`), and adults by band (shares of the adults).
MINOR_YEARS = {13: 0.05, 14: 0.10, 15: 0.20, 16: 0.30, 17: 0.35}
ADULT_BANDS = {"18-24": 0.14, "25-39": 0.31, "40-59": 0.35, "60+": 0.20}
OTHER_BANDS = {"0-12": 0.04, "13-17": 0.08, "18-24": 0.14, "25-39": 0.28, "40-59": 0.30, "60+": 0.16}
OLDEST = 85
BAND_LIMITS = dict(zip(AGE_BANDS, zip(AGE_BANDS.values(), [*list(AGE_BANDS.values())[1:], OLDEST + 1])))
# P(category | age band) of each kind of sale: categories whose buyers' ages differ.
CATEGORIES = {
    True: {
        "beer": [0, 0.5, 0.5, 0.4, 0.3, 0.2],
        "wine": [0, 0.1, 0.2, 0.35, 0.45, 0.55],
        "spirits": [0, 0.4, 0.3, 0.25, 0.25, 0.25],
    },
    False: {
        "snacks": [0.6, 0.5, 0.35, 0.2, 0.15, 0.1],
        "baby": [0, 0, 0.05, 0.3, 0.05, 0.02],
        "health": [0.05, 0.05, 0.1, 0.1, 0.3, 0.48],
        "groceries": [0.35, 0.45, 0.5, 0.4, 0.5, 0.4],
    },
}


@dataclass
class Photos:
    """Labeled photos with the model's answers: file, true age, predicted age, scale (None for a point model)."""

    file: np.ndarray
    true_age: np.ndarray
    predicted: np.ndarray
    scale: np.ndarray | None

    def drawn_for(self, ages: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each age, the index of a photo of a person that age (the nearest age held where none is)."""
        years = np.rint(self.true_age).astype(int)
        held = np.unique(years)
        nearest = held[np.abs(held[None, :] - ages[:, None]).argmin(axis=1)]
        by_year = {year: np.flatnonzero(years == year) for year in held}
        chosen = np.empty(len(ages), np.int64)
        for year in np.unique(nearest):
            where = np.flatnonzero(nearest == year)
            chosen[where] = rng.choice(by_year[year], len(where))
        return chosen


@dataclass
class StoreSettings:
    """The chain to generate (the store-log command's options beside folder, model and out)."""

    stores: int = option(4, "stores in the chain")
    cashiers: int = option(10, "cashiers per store")
    tills: int = option(4, "tills per store")
    sales: int = option(400, "alcohol attempts per cashier")
    other_sales: float = option(1.0, "non-alcohol sales per alcohol attempt")
    minors: float = option(0.03, "share of alcohol attempts by 13-17 year olds")
    negligent: int = option(
        1, f"negligent cashiers per store (ask {BEHAVIOURS['negligent']:.0%} of who looks under 25)"
    )
    lax: int = option(
        1,
        f"lax cashiers per store (ask {BEHAVIOURS['lax']:.0%}); the others are diligent ({BEHAVIOURS['diligent']:.0%})",
    )
    eye_error: float = option(4.0, "years: the spread of a person's estimate of a buyer's age")
    weeks: int = option(4, "weeks the log covers")
    start: str = option("2026-11-02", "the log's first day")
    seed: int = option(0, "seed of the chain")

    def check(self) -> None:
        if min(self.stores, self.cashiers, self.tills, self.sales, self.weeks) < 1:
            raise UserError("stores, cashiers, tills, sales and weeks must each be at least 1")
        if self.negligent + self.lax > self.cashiers or min(self.negligent, self.lax) < 0:
            raise UserError(f"negligent + lax ({self.negligent} + {self.lax}) must be at most cashiers")
        if not 0 <= self.minors < 1 or self.other_sales < 0 or self.eye_error < 0:
            raise UserError("minors must be in [0, 1), other_sales and eye_error >= 0")


def _ages(count: int, bands: dict, rng: np.random.Generator) -> np.ndarray:
    """Ages drawn by band shares, uniform within a band (up to OLDEST)."""
    lows, highs = np.array([BAND_LIMITS[band] for band in bands]).T
    band = rng.choice(len(bands), count, p=np.array(list(bands.values())) / sum(bands.values()))
    return rng.integers(lows[band], highs[band])


def generate(photos: Photos, settings: StoreSettings) -> dict[str, pa.Table]:
    """{sales, truth, cashiers, categories}: one generated chain."""
    settings.check()
    rng = np.random.default_rng(settings.seed)
    behaviour = ["negligent"] * settings.negligent + ["lax"] * settings.lax
    behaviour += ["diligent"] * (settings.cashiers - len(behaviour))
    staff = [
        (f"S{s + 1}", f"S{s + 1}-C{c + 1:02d}", kind)
        for s in range(settings.stores)
        for kind, c in zip(rng.permutation(behaviour), range(settings.cashiers))
    ]
    attempts = settings.sales * len(staff)
    others = int(round(settings.other_sales * attempts))
    who = np.concatenate([np.repeat(np.arange(len(staff)), settings.sales), rng.integers(0, len(staff), others)])
    alcohol = np.arange(len(who)) < attempts
    minor = alcohol & (rng.random(len(who)) < settings.minors)
    ages = np.where(alcohol, _ages(len(who), ADULT_BANDS, rng), _ages(len(who), OTHER_BANDS, rng))
    years = np.array(list(MINOR_YEARS))
    ages[minor] = rng.choice(years, minor.sum(), p=np.array(list(MINOR_YEARS.values())))
    looks_under_25 = ages + rng.normal(0, settings.eye_error, len(who)) < ID_CHECK_AGE
    ask_rate = np.array([BEHAVIOURS[kind] for _, _, kind in staff])[who]
    asked = alcohol & looks_under_25 & (rng.random(len(who)) < ask_rate)
    sold = ~(asked & (ages < LEGAL_AGE))  # a minor who is asked is refused
    band = band_index(ages)
    category = np.empty(len(who), object)
    for kind, table in CATEGORIES.items():
        names = list(table)
        weights = np.array([table[name] for name in names]).T  # (bands, categories)
        for b in range(len(BANDS)):
            where = np.flatnonzero((alcohol == kind) & (band == b))
            if len(where) and weights[b].sum() > 0:
                category[where] = rng.choice(names, len(where), p=weights[b] / weights[b].sum())
    photo = photos.drawn_for(ages, rng)
    order = rng.permutation(np.flatnonzero(sold))
    seconds = np.sort(rng.integers(0, settings.weeks * 7 * 86400, len(order)))
    times = np.datetime64(settings.start, "s") + seconds.astype("timedelta64[s]")
    store = np.array([s for s, _, _ in staff])[who[order]]
    cashier = np.array([c for _, c, _ in staff])[who[order]]
    till = np.char.add(np.char.add(store, "-T"), rng.integers(1, settings.tills + 1, len(order)).astype(str))
    sale_id = np.char.add("sale-", np.arange(1, len(order) + 1).astype(str))
    answered = photo[order]
    sales = pa.table(
        {
            "sale_id": sale_id,
            "store": store,
            "till": till,
            "cashier": cashier,
            "time": np.datetime_as_string(times, unit="s"),
            "alcohol": alcohol[order],
            "category": category[order].astype(str),
            "id_checked": asked[order],
            "photo": photos.file[answered].astype(str),
            "status": np.full(len(order), "ok"),
            "predicted_age": np.round(photos.predicted[answered], 1),
            **({} if photos.scale is None else {"age_scale": np.round(photos.scale[answered], 2)}),
        }
    )
    truth = pa.table(
        {
            "sale_id": sale_id,
            "true_age": ages[order],
            "looked_under_25": looks_under_25[order],
            "cashier_behaviour": np.array([k for _, _, k in staff])[who[order]],
        }
    )
    cashiers = pa.table(
        {
            "store": [s for s, _, _ in staff],
            "cashier": [c for _, c, _ in staff],
            "behaviour": [k for _, _, k in staff],
            "asks_looking_under_25": [BEHAVIOURS[k] for _, _, k in staff],
            "alcohol_attempts": np.bincount(who[alcohol], minlength=len(staff)),
            "minors_served": np.bincount(who[alcohol & sold & (ages < LEGAL_AGE)], minlength=len(staff)),
            "minors_refused": np.bincount(who[alcohol & ~sold], minlength=len(staff)),
        }
    )
    kept = category[order].astype(str)
    names = sorted(set(kept))
    shares: dict[str, list[float]] = {band_name: [] for band_name in BANDS}
    for name in names:
        mix = np.bincount(band[order][kept == name], minlength=len(BANDS)) / max((kept == name).sum(), 1)
        for band_name, share in zip(BANDS, mix):
            shares[band_name].append(round(float(share), 4))
    categories = pa.table({"category": names, "sales": [int((kept == n).sum()) for n in names], **shares})
    return {"sales": sales, "truth": truth, "cashiers": cashiers, "categories": categories}
