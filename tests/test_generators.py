"""Every rule of the data contract, checked on generated rows."""

import datetime
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from transforms import schema
from transforms.generators import generator
from transforms.vocabulary import load

N = 100_000


@pytest.fixture(scope="module")
def films():
    return generator("films").batch(42, 0, N)


@pytest.fixture(scope="module")
def clients():
    return generator("clients").batch(42, 0, N)


def plain(batch, name):
    column = batch.column(name)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column


def test_batches_have_the_schema_columns_and_logical_types(films, clients):
    for batch, ds in ((films, schema.FILMS), (clients, schema.CLIENTS)):
        assert batch.num_rows == N
        assert batch.schema.names == ds.column_names
        for f in ds.fields:
            assert plain(batch, f.name).type == f.arrow_type
            assert batch.column(f.name).null_count == 0


def test_titles_are_two_to_four_capitalised_words_from_the_word_list(films):
    words = set(load().words)
    titles = plain(films, "title").to_pylist()
    counts = {2: 0, 3: 0, 4: 0}
    for t in titles:
        parts = t.split(" ")
        counts[len(parts)] += 1
        assert all(p in words and p[0].isupper() for p in parts), t
    assert all(c > N * 0.15 for c in counts.values())
    assert len(set(titles)) > N * 0.9


def test_film_categories_dates_and_numbers(films):
    genres = plain(films, "genre").to_pylist()
    assert set(genres) == set(schema.GENRES)
    languages = plain(films, "language").to_pylist()
    assert set(languages) == set(schema.LANGUAGES)
    assert max(set(languages), key=languages.count) == "English"
    premiere = plain(films, "premiere").to_pylist()
    assert min(premiere) >= schema.PREMIERE_FIRST and max(premiere) <= schema.PREMIERE_LAST
    assert min(premiere) < datetime.date(1925, 1, 1) and max(premiere) > datetime.date(2024, 1, 1)
    recent = sum(d.year >= 1990 for d in premiere) / N
    assert recent > 0.45  # more films in recent decades
    runtime = plain(films, "runtime").to_numpy()
    assert runtime.min() >= 60 and runtime.max() <= 360
    assert np.mean(runtime) > np.median(runtime)  # right-skewed
    assert 90 <= np.median(runtime) <= 110 and runtime.max() > 200
    rating = plain(films, "rating_score").to_numpy()
    assert rating.min() >= 0 and rating.max() <= 10
    assert np.allclose(np.round(rating * 100), rating * 100)
    assert 6.0 < rating.mean() < 6.6 and 1.2 < rating.std() < 1.6


def test_authors_are_full_names_from_the_name_lists(films):
    v = load()
    firsts = set(v.first_names_male) | set(v.first_names_female)
    lasts = set(v.last_names)
    for a in plain(films, "author").to_pylist()[:20_000]:
        first, last = a.split(" ")
        assert first in firsts and last in lasts


def test_clients_names_sex_and_mail(clients):
    v = load()
    male, female = set(v.first_names_male), set(v.first_names_female)
    names = plain(clients, "name").to_pylist()
    sexes = plain(clients, "sex").to_pylist()
    mails = plain(clients, "mail").to_pylist()
    assert set(sexes) == {"Male", "Female"}
    assert 0.45 < sexes.count("Male") / N < 0.55
    mail_re = re.compile(r"^[a-z]+[._]?[a-z]+[0-9]*@(" + "|".join(map(re.escape, schema.MAIL_DOMAINS)) + r")$")
    for name, sex, mail in zip(names[:20_000], sexes, mails):
        first, last = name.split(" ")
        assert first in (male if sex == "Male" else female), (name, sex)
        assert mail_re.match(mail), mail
        local = mail.split("@")[0]
        assert local.startswith(first.lower()) and last.lower() in local, (name, mail)
    assert {m.split("@")[1] for m in mails} == set(schema.MAIL_DOMAINS)


def test_client_lists_have_no_repeats_and_the_right_lengths(clients):
    genre_lists = [g.split(",") for g in plain(clients, "client_movie_genres").to_pylist()]
    lengths = [len(g) for g in genre_lists]
    assert min(lengths) == 1 and max(lengths) == len(schema.GENRES)
    assert lengths.count(1) > lengths.count(6)  # fewer more frequent
    for g in genre_lists:
        assert len(set(g)) == len(g) and set(g) <= set(schema.GENRES)
    assert len({tuple(g) for g in genre_lists if len(g) == 4}) > 5000  # many different orders
    language_lists = [x.split(",") for x in plain(clients, "client_language_spoken").to_pylist()]
    assert {len(x) for x in language_lists} == {1, 2, 3}
    for x in language_lists:
        assert len(set(x)) == len(x) and set(x) <= set(schema.LANGUAGES)


def test_cars_and_credit_scores(clients):
    cars = set(plain(clients, "client_car").to_pylist())
    assert cars <= set(load().cars) and len(cars) > 1000
    assert "Kia Sorento" in load().cars
    score = plain(clients, "credit_score").to_numpy()
    assert score.min() >= 300 and score.max() <= 850
    assert 660 < score.mean() < 700 and 70 < score.std() < 95
    assert abs(np.median(score) - score.mean()) < 10  # bell-shaped


@pytest.mark.parametrize("dataset", sorted(schema.DATASETS))
def test_rows_depend_only_on_seed_dataset_and_index(dataset):
    g = generator(dataset)
    whole = g.batch(7, 1000, 3000)
    pieces = [g.batch(7, 1000, 1333), g.batch(7, 1333, 1334), g.batch(7, 1334, 3000)]
    joined = pa.Table.from_batches(pieces).combine_chunks()
    for name in whole.schema.names:
        assert plain(whole, name).to_pylist() == pc.cast(
            joined.column(name), plain(whole, name).type).to_pylist()
    other = g.batch(8, 1000, 3000)
    assert plain(other, whole.schema.names[0]).to_pylist() != plain(whole, whole.schema.names[0]).to_pylist()
