"""The structure the built-in specs document (their comments are the ground truth), checked on fixed seeds: the
rows are a pure function of the seed, so these statistics are the same at every run and cannot flake."""

import numpy as np
import pyarrow as pa
import pytest

from datagen.engine import builtin_generator
from datagen.vocabulary import car_segment

N = 200_000


def table(dataset: str, rows: int = N, seed: int = 42) -> dict[str, np.ndarray]:
    batch = builtin_generator(dataset).batch(seed, 0, rows)
    out = {}
    for name, column in zip(batch.schema.names, batch.columns):
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pa.types.is_decimal(column.type):
            column = column.cast(pa.float64())
        out[name] = column.to_numpy(zero_copy_only=False)
    return out


def mean_by(values: np.ndarray, keys: np.ndarray) -> dict:
    return {k: float(values[keys == k].mean()) for k in np.unique(keys)}


@pytest.fixture(scope="module")
def films():
    return table("films")


@pytest.fixture(scope="module")
def clients():
    return table("clients")


@pytest.fixture(scope="module")
def transactions():
    return table("transactions", rows=600_000)


def test_film_ratings_follow_the_genre_effects_in_the_spec(films):
    by_genre = mean_by(films["rating_score"], films["genre"])
    # genre_effect: Documentary 1.0 > Drama 0.6 > Animation 0.5 > Crime 0.4 > ... > Action -0.5 > Horror -1.1
    order = sorted(by_genre, key=by_genre.get, reverse=True)
    assert order[:2] == ["Documentary", "Drama"] and order[-2:] == ["Action", "Horror"]
    assert by_genre["Documentary"] - by_genre["Horror"] > 1.5
    assert 6.1 < films["rating_score"].mean() < 6.5
    assert films["rating_score"].min() >= 0 and films["rating_score"].max() <= 10


def test_film_runtime_depends_on_the_genre(films):
    median = {g: float(np.median(films["runtime"][films["genre"] == g])) for g in np.unique(films["genre"])}
    shortest = sorted(median, key=median.get)[:2]
    assert set(shortest) == {"Documentary", "Animation"}
    assert max(median, key=median.get) == "Drama" and 115 < median["Drama"] < 135
    assert films["runtime"].min() >= 60 and films["runtime"].max() <= 360


def test_older_films_and_longer_films_rate_higher_within_a_genre(films):
    year = films["premiere"].astype("datetime64[Y]").astype(int) + 1970
    drama = films["genre"] == "Drama"
    old, new = drama & (year < 1960), drama & (year >= 2000)
    assert films["rating_score"][old].mean() > films["rating_score"][new].mean() + 0.5  # -0.015 a year
    slope = np.polyfit(films["runtime"][drama], films["rating_score"][drama], 1)[0]
    assert 0.002 < slope < 0.012  # 0.006 a minute, blurred by the other parts


def test_authors_are_a_zipf_like_pool_with_their_own_quality(films):
    names, counts = np.unique(films["author"], return_counts=True)
    counts = np.sort(counts)[::-1]
    assert len(names) < 50_000  # a finite pool, not a new name per film
    assert counts[0] > 50 * np.median(counts)  # prolific authors make many films
    assert counts[:100].sum() > 0.03 * N
    # An author's films share a quality: the spread of a prolific author's ratings is below the whole spread,
    # and prolific authors' mean ratings differ far more than chance would make them.
    top = names[np.argsort(-np.unique(films["author"], return_counts=True)[1])[:200]]
    means = np.array([films["rating_score"][films["author"] == a].mean() for a in top])
    assert means.std() > 0.4


def test_authors_favour_a_genre(films):
    names, counts = np.unique(films["author"], return_counts=True)
    shares = []
    for a in names[counts >= 40][:100]:
        genres, n = np.unique(films["genre"][films["author"] == a], return_counts=True)
        shares.append(n.max() / n.sum())
    assert np.median(shares) > 0.5  # 60% of an author's films in the favourite genre


def test_film_languages_shift_with_the_era(films):
    year = films["premiere"].astype("datetime64[Y]").astype(int) + 1970
    early, recent = year < 1960, year >= 1995
    english = films["language"] == "English"
    korean = films["language"] == "Korean"
    assert english[early].mean() > english[recent].mean() + 0.15
    assert korean[recent].mean() > 3 * korean[early].mean()


def test_credit_scores_depend_on_the_car_and_the_languages_but_not_on_sex(clients):
    score = clients["credit_score"].astype(float)
    segment = np.array([car_segment(c) for c in clients["client_car"]])
    by_segment = mean_by(score, segment)
    assert by_segment["economy"] < by_segment["mainstream"] < by_segment["premium"] < by_segment["luxury"]
    assert 60 < by_segment["luxury"] - by_segment["economy"] < 140  # +80 - (-35) in the spec
    languages = np.char.count(clients["client_language_spoken"].astype(str), ",") + 1
    by_languages = mean_by(score, languages)
    assert 25 < by_languages[3] - by_languages[1] < 50  # 18 a language
    men, women = score[clients["sex"] == "Male"], score[clients["sex"] == "Female"]
    assert abs(men.mean() - women.mean()) < 1.5 and abs(men.std() - women.std()) < 1.5
    qs = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    assert np.abs(np.quantile(men, qs) - np.quantile(women, qs)).max() <= 4
    # Two-sample Kolmogorov-Smirnov statistic: far below what a 5-point shift would give (about 0.08).
    grid = np.arange(300, 851)
    ks = np.abs(np.searchsorted(np.sort(men), grid, "right") / len(men)
                - np.searchsorted(np.sort(women), grid, "right") / len(women)).max()
    assert ks < 0.015


def test_fraud_rows_follow_the_public_statistics(transactions):
    t = transactions
    fraud = t["class"] == 1
    assert 0.0015 < fraud.mean() < 0.0020  # 0.172%
    for component, mean in (("v14", -6.97), ("v17", -6.67), ("v12", -6.26), ("v10", -5.68), ("v4", 4.54),
                            ("v11", 3.80)):
        v = t[component]
        assert abs(v[fraud].mean() - mean) < 0.6, component
        assert v[fraud].std() > 2.5 * v[~fraud].std(), component  # larger spreads: classes overlap
        assert abs(v[~fraud].mean()) < 0.02
    assert abs(t["v1"][~fraud].std() - 1.93) < 0.05 and abs(t["v28"][~fraud].std() - 0.33) < 0.01
    # Some frauds look normal on the strongest component: the classes are not separable by a threshold.
    assert (t["v14"][fraud] > -2).mean() > 0.1
    amount = t["amount"]
    assert np.median(amount[fraud]) < np.median(amount[~fraud]) and amount[fraud].mean() > amount[~fraud].mean()
    assert 20 < np.median(amount[~fraud]) < 24 and 80 < amount[~fraud].mean() < 97


def test_transaction_times_cover_two_days_per_284807_rows_with_a_night_trough(transactions):
    time = transactions["time"]
    assert time[0] == 0 and (np.diff(time) >= 0).all() and (np.diff(time) == 0).any()
    assert abs(time[284_806] - 172_800) < 60
    share = np.bincount((time % 86_400) // 3_600, minlength=24) / len(time)
    assert share[2:6].max() < 0.015 and share[11:20].min() > 0.05  # few transactions at night
