"""Tables made by ACRO itself, and ACRO's verdict on each of their cells.

python compare.py OUT writes OUT/verdicts.json and the tables it names:
- table_NNN.csv: frequency tables, as ACRO's crosstab returns them, written by pandas ("wide": a row
  of labels, a column per category); each cell's verdict is every check ACRO failed there.
- means_NNN.csv: means of an income by two categories, from ACRO's pivot_table, written as a
  requester following this app's conventions would: a row per cell with its mean and its count n
  ("long"). Each cell's verdict is ACRO's threshold check alone: that is what a count shows; ACRO's
  dominance checks need the contributions, which such a table does not carry.
ACRO runs with its defaults, suppression off, so every cell is kept. The tables come from seeded random
microdata: two to four categories a side, skewed, a few to a few hundred people, so small cells, empty
cells and safe cells all occur. A verdict is "" when the cell passed.
"""

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

logging.disable(logging.CRITICAL)
import acro  # noqa: E402  (after logging is quietened: ACRO logs every table it makes)

TABLES = 120
MEANS = 40


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    checker = acro.ACRO(suppress=False)
    verdicts: dict[str, dict] = {}
    for i in range(TABLES):
        rng = np.random.default_rng(i)
        rows = [f"r{k}" for k in range(rng.integers(2, 5))]
        cols = [f"c{k}" for k in range(rng.integers(2, 5))]
        people = int(rng.integers(8, 400))
        weights = rng.dirichlet(np.ones(len(rows)) * 0.7)
        data = pd.DataFrame(
            {
                "group": rng.choice(rows, size=people, p=weights),
                "kind": rng.choice(cols, size=people),
            }
        )
        table = checker.crosstab(data.group, data.kind)
        outcome = checker.results.get_index(-1).outcome
        name = f"table_{i:03d}.csv"
        table.to_csv(out / name)
        verdicts[name] = {
            "layout": "wide",
            "cells": {
                f"{r}|{c}": ("" if str(outcome.loc[r, c]).strip() == "ok" else str(outcome.loc[r, c]).strip())
                for r in table.index
                for c in table.columns
            },
        }
    for i in range(MEANS):
        rng = np.random.default_rng(1000 + i)
        rows = [f"r{k}" for k in range(rng.integers(2, 5))]
        cols = [f"c{k}" for k in range(rng.integers(2, 4))]
        people = int(rng.integers(15, 300))
        data = pd.DataFrame(
            {
                "group": rng.choice(rows, size=people, p=rng.dirichlet(np.ones(len(rows)) * 0.7)),
                "kind": rng.choice(cols, size=people),
                "income": rng.lognormal(10, 0.4, size=people),
            }
        )
        means = checker.pivot_table(data, index=["group"], columns=["kind"], values=["income"], aggfunc="mean")
        outcome = checker.results.get_index(-1).outcome
        counts = pd.crosstab(data.group, data.kind)
        name = f"means_{i:03d}.csv"
        lines = ["group,kind,mean_income,n"]
        cells = {}
        for r in means.index:
            for c in means.columns.get_level_values(1):
                n = int(counts.loc[r, c]) if r in counts.index and c in counts.columns else 0
                mean = means.loc[r, ("income", c)]
                lines.append(f"{r},{c},{'' if pd.isna(mean) else round(float(mean), 2)},{n}")
                checks = str(outcome.loc[r, ("income", c)])
                cells[f"{r}|{c}"] = "MinimumThresholdCheck;" if "MinimumThresholdCheck" in checks else ""
        (out / name).write_text("\n".join(lines) + "\n")
        verdicts[name] = {"layout": "long", "cells": cells}
    (out / "verdicts.json").write_text(json.dumps(verdicts, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
