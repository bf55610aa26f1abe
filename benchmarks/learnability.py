"""ML-readiness: how much a simple model learns from each built-in dataset, next to what its spec allows.

    pip install -e '.[bench]' && python benchmarks/learnability.py [--rows 200000] [--seed 42]

Generates a sample of each dataset with the spec engine (the same rows pipelines.generate writes), trains
simple models on a train split and scores them on a held-out split:
- films -> rating_score, gradient boosting on (genre, language, runtime, premiere year), then with the author's
  mean rating on the training split as one more feature (target encoding);
- clients -> credit_score, gradient boosting on every column but the name and mail (sex included: it must not
  help);
- transactions -> class, logistic regression on v1..v28 and amount (standardised).
It prints R^2, ROC AUC and average precision next to the ceilings the specs imply (1 - the variance of what no
column reveals, over the variance of the target on the test rows: the specs' comments give each part) and the
public figures of the data the transactions imitate. (A ceiling is estimated on the test rows, whose noise
varies by chance by about 0.005 of R^2: a model can land a hair above one.) scikit-learn is a
benchmark-only extra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datagen.engine import builtin_generator  # noqa: E402


def columns(dataset: str, rows: int, seed: int) -> dict[str, np.ndarray]:
    batch = builtin_generator(dataset).batch(seed, 0, rows)
    out = {}
    for name, column in zip(batch.schema.names, batch.columns):
        if hasattr(column, "dictionary_decode"):
            column = column.dictionary_decode()
        out[name] = column.to_numpy(zero_copy_only=False)
    return out


def codes(values: np.ndarray) -> np.ndarray:
    return np.unique(values, return_inverse=True)[1]


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = int(n * 0.75)
    return order[:cut], order[cut:]


def films(rows: int, seed: int) -> list[tuple]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    c = columns("films", rows, seed)
    year = c["premiere"].astype("datetime64[Y]").astype(int) + 1970
    x = np.column_stack([codes(c["genre"]), codes(c["language"]), c["runtime"], year]).astype(float)
    y = c["rating_score"]
    train, test = split(len(y), seed)
    model = HistGradientBoostingRegressor(categorical_features=[0, 1], random_state=0)
    r2 = r2_score(y[test], model.fit(x[train], y[train]).predict(x[test]))
    # The author's mean rating over the training rows (shrunk towards the mean for authors with few films).
    author = codes(c["author"])  # the name a user sees (two authors may share one)
    sums = np.bincount(author[train], weights=y[train], minlength=author.max() + 1)
    counts = np.bincount(author[train], minlength=author.max() + 1)
    prior, k = y[train].mean(), 5.0
    encoded = (sums + k * prior) / (counts + k)
    # Training rows see their author's mean without their own rating (leave-one-out), as test rows do.
    loo = (sums[author[train]] - y[train] + k * prior) / (counts[author[train]] - 1 + k)
    xa = np.column_stack([x, encoded[author]])
    xa[train, -1] = loo
    model = HistGradientBoostingRegressor(categorical_features=[0, 1], random_state=0)
    r2_author = r2_score(y[test], model.fit(xa[train], y[train]).predict(xa[test]))
    # The spec: noise sd 0.8, author quality sd 1 times 0.6; what is left of the variance is all a model can explain.
    var = y[test].var()
    return [("films", "rating_score R^2, genre+language+runtime+year", r2, f"{1 - (0.64 + 0.36) / var:.2f}", ""),
            ("films", "rating_score R^2, + author's mean rating", r2_author, f"{1 - 0.64 / var:.2f}", "")]


def clients(rows: int, seed: int) -> list[tuple]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import r2_score

    c = columns("clients", rows, seed)
    makes = np.array([car.split(" ")[0] for car in c["client_car"]])
    n_languages = np.char.count(c["client_language_spoken"].astype(str), ",") + 1
    n_genres = np.char.count(c["client_movie_genres"].astype(str), ",") + 1
    x = np.column_stack([codes(makes), n_languages, n_genres, codes(c["sex"])]).astype(float)
    y = c["credit_score"].astype(float)
    train, test = split(len(y), seed)
    model = HistGradientBoostingRegressor(categorical_features=[0, 3], random_state=0)
    r2 = r2_score(y[test], model.fit(x[train], y[train]).predict(x[test]))
    model = HistGradientBoostingRegressor(categorical_features=[0], random_state=0)
    r2_sex = r2_score(y[test], model.fit(x[train][:, 3:], y[train]).predict(x[test][:, 3:]))
    ceiling = 1 - 55.0**2 / y[test].var()  # the spec's noise sd is 55
    return [("clients", "credit_score R^2, car make+languages+genres+sex", r2, f"{ceiling:.2f}", ""),
            ("clients", "credit_score R^2, sex alone", r2_sex, "0", "")]


def transactions(rows: int, seed: int) -> list[tuple]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.preprocessing import StandardScaler

    c = columns("transactions", rows, seed)
    names = [f"v{i}" for i in range(1, 29)]
    x = np.column_stack([c[n] for n in names] + [np.log1p(c["amount"].astype(float))])
    y = c["class"]
    train, test = split(len(y), seed)
    scaler = StandardScaler().fit(x[train])
    model = LogisticRegression(max_iter=2000).fit(scaler.transform(x[train]), y[train])
    p = model.predict_proba(scaler.transform(x[test]))[:, 1]
    return [("transactions", f"class ROC AUC, logistic regression ({y.sum():,} frauds)", roc_auc_score(y[test], p),
             "", "about 0.97"),
            ("transactions", "class average precision, same model", average_precision_score(y[test], p), "",
             "about 0.7")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000, help="rows per dataset (transactions: 5x, for frauds)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    results = films(args.rows, args.seed) + clients(args.rows, args.seed) + transactions(5 * args.rows, args.seed)
    print(f"{'dataset':<13} {'measure':<56} {'value':>7}  {'ceiling':<12} {'public data':<12}")
    for dataset, measure, value, ceiling, public in results:
        print(f"{dataset:<13} {measure:<56} {value:>7.3f}  {ceiling:<12} {public:<12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
