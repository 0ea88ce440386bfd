"""When and at which till the photos stopped looking like the calibration photos: the service's shift alarm
replayed over a predictions file.

    python drift.py predictions=till_log.csv model=deploy/model.json [output=drift] [by=till] [delta=0.01]

Writes drift.json (per till: photos, alarm, alarm_at, evidence), drift.csv (each till's evidence over its photos),
drift.png (with matplotlib) and problems.csv to `output`. Needs no torch. Options: DriftConfig in
age_lightning/store/commands.py (--help lists them).
"""

import sys

from age_lightning.store.commands import drift

if __name__ == "__main__":
    sys.exit(drift())
