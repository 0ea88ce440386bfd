"""A generated chain's sales log, to try the cashier audit on: stores, tills, cashiers with stated behaviours,
buyers whose photos come from a labeled folder the model never trained on.

    python store_log.py folder=FOLDER model=deploy/model.json out=DIR [seed=0 stores=4 cashiers=10 sales=400]

Writes DIR/sales.csv (what a store has) and, separately, the truth: truth.csv, truth_cashiers.csv and
truth_categories.csv. Needs no torch. Options: StoreLogConfig in age_lightning/store/commands.py.
"""

import sys

from age_lightning.store.commands import store_log

if __name__ == "__main__":
    sys.exit(store_log())
