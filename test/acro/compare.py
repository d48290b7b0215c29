"""Frequency tables made by ACRO itself, and ACRO's verdict on each of their cells.

python compare.py OUT writes OUT/table_NNN.csv (each table as ACRO's crosstab returns it, written by
pandas) and OUT/verdicts.json: for each file, for each cell "row label|column label", the checks ACRO
failed there ("" when it passed). ACRO runs with its defaults, suppression off, so every cell is kept.
The tables come from seeded random microdata: two to four categories a side, skewed, a few to a few
hundred people, so small cells, zeros and safe cells all occur.
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


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    checker = acro.ACRO(suppress=False)
    verdicts: dict[str, dict[str, str]] = {}
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
            f"{r}|{c}": ("" if str(outcome.loc[r, c]).strip() == "ok" else str(outcome.loc[r, c]).strip())
            for r in table.index
            for c in table.columns
        }
    (out / "verdicts.json").write_text(json.dumps(verdicts, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
