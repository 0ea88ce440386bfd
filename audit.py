"""Which cashiers sell alcohol to buyers who look under age: a cashier audit of a store's sales log.

    python audit.py log=sales.csv model=deploy/model.json [out=audit/] [fdr=0.1] [columns.cashier=...]

Writes audit.json, audit.csv, review.csv, audit.md, problems.csv and audit.png (with matplotlib) to `out`. Needs no
torch. Options: AuditConfig in age_lightning/store/commands.py (--help lists them).
"""

import sys

from age_lightning.store.commands import audit

if __name__ == "__main__":
    sys.exit(audit())
