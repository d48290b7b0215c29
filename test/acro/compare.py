"""Tables made by ACRO itself, and ACRO's verdict on each of their cells.

python compare.py OUT writes OUT/verdicts.json and the tables it names:
- table_NNN.csv: frequency tables, as ACRO's crosstab returns them, written by pandas ("wide": a row
  of labels, a column per category); each cell's verdict is every check ACRO failed there.
- means_NNN.csv: means of an income by two categories, from ACRO's pivot_table, written as a
  requester following this app's conventions would: a row per cell with its mean and its count n
  ("long"). Each cell's verdict is ACRO's threshold check alone: that is what a count shows; ACRO's
  dominance checks need the contributions, which such a table does not carry.
- sums_NNN.csv: totals of a skewed income (a few people hold most of it) by two categories, from
  ACRO's pivot_table with aggfunc "sum", written in the long form with each total's two largest
  contributions beside it (total_income_top1, total_income_top2) and its count n, as this app's
  dominance convention asks. Each cell's verdict is every check ACRO failed there (threshold, N-K, p %).
- model_NNN.csv: ordinary least squares from ACRO's ols on 6 to 25 people and 1 to 4 predictors,
  written as statsmodels' summary2().tables[0] is (labels and values, "Df Residuals:" among them);
  the verdict is ACRO's on the model (its residual degrees of freedom check).
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
SUMS = 60
MODELS = 40


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
    for i in range(SUMS):
        rng = np.random.default_rng(2000 + i)
        rows = [f"r{k}" for k in range(rng.integers(2, 4))]
        cols = [f"c{k}" for k in range(rng.integers(2, 4))]
        people = int(rng.integers(20, 160))
        data = pd.DataFrame(
            {
                "group": rng.choice(rows, size=people),
                "kind": rng.choice(cols, size=people),
                "income": np.round((rng.pareto(rng.uniform(0.6, 3.0), size=people) + 0.05) * 1000, 2),
            }
        )
        checker.pivot_table(data, index=["group"], columns=["kind"], values=["income"], aggfunc="sum")
        outcome = checker.results.get_index(-1).outcome
        name = f"sums_{i:03d}.csv"
        lines = ["group,kind,total_income,total_income_top1,total_income_top2,n"]
        cells = {}
        for r in rows:
            for c in cols:
                values = sorted(data.income[(data.group == r) & (data.kind == c)], reverse=True)
                if (r, c) not in [(a, b) for a in outcome.index for b in outcome.columns.get_level_values(1)]:
                    continue
                top = (values + [0, 0])[:2]
                lines.append(f"{r},{c},{round(sum(values), 2)},{top[0]},{top[1]},{len(values)}")
                checks = str(outcome.loc[r, ("income", c)]).strip()
                cells[f"{r}|{c}"] = "" if checks == "ok" else checks
        (out / name).write_text("\n".join(lines) + "\n")
        verdicts[name] = {"layout": "sums", "cells": cells}
    for i in range(MODELS):
        rng = np.random.default_rng(3000 + i)
        people = int(rng.integers(6, 26))
        predictors = int(rng.integers(1, 5))
        x = pd.DataFrame({f"x{k}": rng.normal(size=people) for k in range(predictors)})
        x.insert(0, "const", 1.0)
        y = x.sum(axis=1) + rng.normal(size=people)
        fitted = checker.ols(y, x)
        result = checker.results.get_index(-1)
        name = f"model_{i:03d}.csv"
        fitted.summary2().tables[0].to_csv(out / name, header=False, index=False)
        verdicts[name] = {"layout": "model", "cells": {"model": "" if result.status == "pass" else str(result.summary).strip()}}
    (out / "verdicts.json").write_text(json.dumps(verdicts, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
