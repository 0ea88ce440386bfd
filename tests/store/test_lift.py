"""What to offer each age group (store/lift.py, shares.py lift=true): the lift against a hand-computed case, its
intervals' coverage over many generated stores, categories with too few buyers, and the command on a generated
store whose over-indexed categories are known."""

import numpy as np
import pyarrow.csv as pa_csv
import pytest

from age_lightning.shares import BANDS, Cells, ErrorModel, band_index, estimate
from age_lightning.store.generator import BAND_LIMITS, StoreSettings, generate
from age_lightning.store.lift import lifts, outer_groups, to_offer
from helpers import run_command
from helpers.store import answer, model_file, photos

CENTRES = [6.0, 15.0, 21.0, 32.0, 50.0, 75.0]  # one age inside each band, far from its edges


def lifts_of(keys: list[tuple], cells: Cells, error_model: ErrorModel, min_buyers: int = 100, **options):
    """Every category's lift, as shares.py lift=true finds it: one estimate with each outer group's all buyers."""
    return lifts(keys, estimate(error_model, cells, sums=outer_groups(keys)[1], **options), 0.95, min_buyers)


def test_the_lift_of_a_hand_computed_store():
    """A model that never errs, and dm, whose bins then separate the bands exactly: corrected and counted lift are
    both the hand-computed ratio of shares."""
    exact = ErrorModel.fit(np.repeat(CENTRES, 50), np.repeat(CENTRES, 50))
    wine = np.array([21.0] * 60 + [50.0] * 40)  # 60% 18-24, 40% 40-59
    beer = np.array([21.0] * 20 + [50.0] * 180)  # 10% / 90%; all buyers: 80 / 300 and 220 / 300
    found = lifts_of([("beer",), ("wine",)], Cells.of(beer, wine), exact, 50, method="dm", bootstrap=50)
    young, middle = BANDS.index("18-24"), BANDS.index("40-59")
    by_name = {item.category: item for item in found}
    for name, (first, second) in {
        "wine": (0.6 / (80 / 300), 0.4 / (220 / 300)),
        "beer": (0.1 / (80 / 300), 0.9 / (220 / 300)),
    }.items():
        item = by_name[name]
        np.testing.assert_allclose(item.lift[[young, middle]], [first, second], rtol=0.02)  # bagged replicates
        np.testing.assert_allclose(item.counted[[young, middle]], [first, second], rtol=1e-6)
        assert np.isnan(item.lift[0]) and item.buyers == {"wine": 100, "beer": 200}[name]
    assert [item.category for item in to_offer(found)[()]["18-24"]] == ["wine"]  # 2.25, its interval above 1


def ages(mix: dict[str, float], count: int, rng) -> np.ndarray:
    """True ages by band shares, uniform within a band."""
    names = list(mix)
    band = rng.choice(len(names), count, p=np.array(list(mix.values())) / sum(mix.values()))
    lows, highs = np.array([BAND_LIMITS[n] for n in names]).T
    return rng.integers(lows[band], highs[band]).astype(float)


YOUNG = {"0-12": 0.05, "13-17": 0.10, "18-24": 0.35, "25-39": 0.30, "40-59": 0.15, "60+": 0.05}
OLD = {"0-12": 0.05, "13-17": 0.05, "18-24": 0.05, "25-39": 0.20, "40-59": 0.35, "60+": 0.30}


@pytest.mark.slow
def test_lift_intervals_cover_the_true_lift_over_many_generated_stores():
    """40 stores, each with its own error model and two categories of different age mixes: the 95% intervals
    cover the true lift (of the store's actual buyers) about 95% of the time."""
    covered = []
    for draw in range(40):
        rng = np.random.default_rng(draw)
        true_labeled = rng.integers(1, 86, 1500).astype(float)
        error_model = ErrorModel.fit(true_labeled, answer(true_labeled, rng))
        groups = [ages(YOUNG, 1500, rng), ages(OLD, 2500, rng)]
        everyone = np.bincount(band_index(np.concatenate(groups)), minlength=len(BANDS)) / 4000
        cells = Cells.of(*(answer(g, rng) for g in groups[::-1]))
        found = lifts_of([("old",), ("young",)], cells, error_model, bootstrap=100, seed=draw)
        for item, true in zip(found, groups[::-1]):
            lift = np.bincount(band_index(true), minlength=len(BANDS)) / len(true) / everyone
            covered.extend((item.low <= lift) & (lift <= item.high))
    rate = np.mean(covered)
    print(f"95% lift intervals covered {rate:.1%} of {len(covered)}")
    assert 0.9 <= rate <= 1.0


def test_a_category_with_too_few_buyers_is_said_to_be_too_few_and_never_ranked():
    rng = np.random.default_rng(0)
    true_labeled = rng.integers(1, 86, 1500).astype(float)
    error_model = ErrorModel.fit(true_labeled, answer(true_labeled, rng))
    groups = [ages(YOUNG, 2000, rng), ages(OLD, 2000, rng), np.full(30, 20.0)]  # 30 buyers, all 18-24
    found = lifts_of([("a",), ("b",), ("c",)], Cells.of(*(answer(g, rng) for g in groups)), error_model, bootstrap=50)
    few = found[2]
    assert few.too_few and "too few buyers to rank (30 < 100)" in few.note and few.lift[2] > 1.5
    assert all(few not in listed for listed in to_offer(found)[()].values())
    assert found[0] in to_offer(found)[()]["18-24"]  # the young category, ranked


def test_the_command_finds_what_to_offer_on_a_generated_store(tmp_path):
    """shares.py lift=true on a generated store: every category the generator made clearly over-indexed for a
    band (true lift >= 1.5) is offered to it, and none whose true lift is at most 1."""
    chain = generate(photos(count=6000), StoreSettings(stores=2, cashiers=10, sales=1000, seed=4))
    pa_csv.write_csv(chain["sales"], tmp_path / "sales.csv")
    model_file().write(tmp_path / "model.json")
    done = run_command(
        "shares.py", "predictions=sales.csv", "model=model.json", "by=category", "lift=true", "output=out", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "What to offer each age group" in done.stdout
    rows = pa_csv.read_csv(tmp_path / "out" / "lift.csv").to_pylist()
    assert list(rows[0])[:7] == ["band", "category", "buyers", "lift", "low", "high", "counted_lift"]
    true_band = band_index(chain["truth"].column("true_age").to_numpy())
    category = chain["sales"].column("category").to_numpy(zero_copy_only=False)
    everyone = np.bincount(true_band, minlength=len(BANDS)) / len(true_band)
    offered, clear, never = set(), set(), set()
    for row in rows:
        b = BANDS.index(row["band"])
        mine = category == row["category"]
        true_lift = np.mean(true_band[mine] == b) / everyone[b]
        if row["low"] is not None and row["low"] > 1:
            offered.add((row["band"], row["category"]))
        (clear if true_lift >= 1.5 else never if true_lift <= 1 else set()).add((row["band"], row["category"]))
    assert clear <= offered and not offered & never, (clear - offered, offered & never)
    assert (tmp_path / "out" / "lift.png").stat().st_size > 10_000 and (tmp_path / "out" / "lift.md").is_file()

    per_store = run_command(
        "shares.py",
        "predictions=sales.csv",
        "model=model.json",
        "by=store,category",
        "lift=true",
        "output=stores",
        "bootstrap=20",
        cwd=tmp_path,
    )
    assert per_store.returncode == 0, per_store.stderr
    stores = pa_csv.read_csv(tmp_path / "stores" / "lift.csv").to_pylist()
    assert {row["store"] for row in stores} == {"S1", "S2"} and len(stores) == 2 * 7 * len(BANDS)
    assert "### store S1" in (tmp_path / "stores" / "lift.md").read_text()
    failed = run_command("shares.py", "predictions=sales.csv", "model=model.json", "lift=true", cwd=tmp_path)
    assert failed.returncode == 1 and "lift=true needs by=<category column>" in failed.stderr
