"""Export the service's answer log to a CSV file with the columns the audit reads.

    python answers.py log=answers.db [out=answers.csv] [since=2026-12-01]

`log` is the service's answer_log=: a SQLite file, or postgresql://user@host/db. Needs no torch. Options:
AnswersConfig in age_lightning/store/commands.py (--help lists them).
"""

import sys

from age_lightning.store.commands import answers

if __name__ == "__main__":
    sys.exit(answers())
