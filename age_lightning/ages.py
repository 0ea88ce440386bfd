"""Facts about ages, one place each: the valid range, the age bands and the alcohol age check."""

import numpy as np

# Ages outside this range are treated as label errors; predictions are clamped to it.
MIN_AGE = 0.0
MAX_AGE = 120.0

# The alcohol age check ("Challenge 25"): buyers who do not look older than ID_CHECK_AGE are asked for ID, so that
# nobody under LEGAL_AGE is sold alcohol.
LEGAL_AGE = 18
ID_CHECK_AGE = 25
ADULTS = f"adults {ID_CHECK_AGE}+"  # in reports: the buyers whose being asked for ID is the check's friction

# Age bands for per-band metrics and reports: label -> lowest age in the band (years).
# A band runs up to the next band's lower bound, so fractional ages (12.5) fall in exactly one band.
AGE_BANDS = {"0-12": 0, "13-17": 13, "18-24": 18, "25-39": 25, "40-59": 40, "60+": 60}
TEEN_BAND = "13-17"  # minors old enough to try buying alcohol
TEEN_YEARS = range(13, LEGAL_AGE)  # each year of them, reported one by one


def age_band(ages) -> np.ndarray:
    """Band label of each age (None where the age is missing)."""
    ages = np.asarray(ages, dtype=float)
    index = np.searchsorted(list(AGE_BANDS.values()), ages, side="right") - 1
    labels = np.array(list(AGE_BANDS), dtype=object)[np.clip(index, 0, None)]
    labels[np.isnan(ages)] = None
    return labels
