"""Vectorised generators of the films and clients datasets.

``generator(name).batch(seed, start, stop)`` returns rows [start, stop) of a dataset as one Arrow record
batch. Every value of row ``i`` comes from :mod:`transforms.randomness` streams keyed by (seed, dataset,
stream) at index ``i``, so a batch is the same whatever range it is cut from. The vocabularies, lookup tables
and text pieces are built once per process.

Low-cardinality string columns (genre, language, sex, client_car) come dictionary-encoded; their logical type
is the string type of :mod:`transforms.schema` (the Parquet writer stores them as such).
"""

from __future__ import annotations

import datetime as _dt
import functools
from types import SimpleNamespace

import numpy as np
import pyarrow as pa

from transforms import schema
from transforms.randomness import Fields, WeightedChoice, discretised, row_bits, stream_key
from transforms.text import Pieces, compose
from transforms.vocabulary import load as load_vocabulary

GENRES = ("Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Fantasy", "Horror",
          "Mystery", "Romance", "Thriller")
LANGUAGES = ("English", "Spanish", "French", "Hindi", "Chinese", "Japanese", "Italian", "German", "Korean",
             "Portuguese", "Russian", "Arabic")
_OLD = SimpleNamespace(GENRES=GENRES, LANGUAGES=LANGUAGES, MAIL_DOMAINS=(
    "gmail.com", "hotmail.com", "yahoo.com", "outlook.com", "orange.com", "icloud.com", "aol.com", "protonmail.com"),
    SEXES=("Male", "Female"), PREMIERE_FIRST=_dt.date(1920, 1, 1), PREMIERE_LAST=_dt.date(2025, 12, 31),
    RUNTIME_MINUTES=(60, 360), CREDIT_SCORE=(300, 850), CLIENT_LANGUAGES_MAX=3, datetime=_dt,
    FILMS=schema.FILMS, CLIENTS=schema.CLIENTS, get=schema.get)
schema = _OLD  # noqa: F811

_GENRE_WEIGHTS = {  # share of films per genre, loosely after catalogue statistics
    "Action": 11, "Adventure": 6, "Animation": 4, "Comedy": 16, "Crime": 7, "Documentary": 9,
    "Drama": 22, "Fantasy": 4, "Horror": 7, "Mystery": 4, "Romance": 6, "Thriller": 8,
}
_LANGUAGE_WEIGHTS = {
    "English": 40, "Spanish": 10, "French": 9, "Hindi": 9, "Chinese": 7, "Japanese": 7,
    "Italian": 6, "German": 5, "Korean": 4, "Portuguese": 3, "Russian": 3, "Arabic": 2,
}


def _dictionary(indices: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int16), pa.int16()), values)


class _People:
    """First and last names by frequency, and the pieces to write a full name: 'First ' + 'Last'."""

    def __init__(self, pieces: Pieces):
        v = load_vocabulary()
        self.first = v.first_names_male + v.first_names_female
        self.n_male = len(v.first_names_male)
        self.male = WeightedChoice(v.first_names_male_weights)
        self.female = WeightedChoice(v.first_names_female_weights)
        self.last = WeightedChoice(v.last_names_weights)
        self.last_names = v.last_names
        self.first_base = pieces.add(name + " " for name in self.first)
        self.last_base = pieces.add(v.last_names)

    def draw(self, f: Fields):
        """(is_male, first, last): 1 for male, indices into ``self.first`` and the last names (33 bits)."""
        is_male = f.take(1)
        first_field = f.take(16)
        first = np.where(is_male == 1, self.male(first_field), self.female(first_field) + self.n_male)
        return is_male, first.astype(np.int64), self.last(f.take(16)).astype(np.int64)

    def full_name_pieces(self, first: np.ndarray, last: np.ndarray) -> np.ndarray:
        return np.stack([first + self.first_base, last + self.last_base], axis=1)


class DatasetGenerator:
    schema: schema.DatasetSchema

    def batch(self, seed: int, start: int, stop: int) -> pa.RecordBatch:
        raise NotImplementedError

    def _stream(self, seed: int, stream: str, start: int, stop: int) -> Fields:
        return Fields(row_bits(stream_key(seed, self.schema.name, stream), start, stop))


class FilmsGenerator(DatasetGenerator):
    schema = schema.FILMS

    def __init__(self):
        v = load_vocabulary()
        self.pieces = Pieces()
        words = v.words
        self.n_words = len(words)
        self.word_space = self.pieces.add(w + " " for w in words)
        self.word_last = self.pieces.add(words)
        self.empty = self.pieces.add([""])
        self.people = _People(self.pieces)
        self.title_words = WeightedChoice([0.30, 0.45, 0.25])  # 2, 3 or 4 words
        self.genre = WeightedChoice([_GENRE_WEIGHTS[g] for g in schema.GENRES])
        self.genre_values = pa.array(schema.GENRES, pa.string())
        self.language = WeightedChoice([_LANGUAGE_WEIGHTS[g] for g in schema.LANGUAGES])
        self.language_values = pa.array(schema.LANGUAGES, pa.string())
        days = (schema.PREMIERE_LAST - schema.PREMIERE_FIRST).days
        # More films every year: density rising linearly to 4x the 1920 level.
        self.premiere = discretised(lambda d: 1.0 + 3.0 * d / days, 0, days, bits=20)
        self.premiere_epoch = (schema.PREMIERE_FIRST - schema.datetime.date(1970, 1, 1)).days
        lo, hi = schema.RUNTIME_MINUTES
        # Log-normal minutes, median 100 and a long right tail.
        self.runtime = discretised(
            lambda x: np.exp(-((np.log(x) - np.log(100.0)) ** 2) / (2 * 0.25 ** 2)) / x, lo, hi)
        self.runtime_lo = lo
        # Hundredths of a point, normal around 6.3 (sd 1.4), cut to [0, 10].
        self.rating = discretised(lambda k: np.exp(-((k / 100.0 - 6.3) ** 2) / (2 * 1.4 ** 2)), 0, 1000)

    def batch(self, seed: int, start: int, stop: int) -> pa.RecordBatch:
        n = stop - start
        t = self._stream(seed, "title", start, stop)
        count = self.title_words(t.take(16)) + 2
        w = [t.uniform(self.n_words) for _ in range(3)]
        a = self._stream(seed, "title_author", start, stop)
        w.append(a.uniform(self.n_words))
        idx = np.empty((n, 4), dtype=np.int64)
        idx[:, 0] = w[0] + self.word_space
        idx[:, 1] = np.where(count == 2, w[1] + self.word_last, w[1] + self.word_space)
        idx[:, 2] = np.where(count == 2, self.empty,
                             np.where(count == 3, w[2] + self.word_last, w[2] + self.word_space))
        idx[:, 3] = np.where(count == 4, w[3] + self.word_last, self.empty)
        title = compose(self.pieces, idx)

        c = self._stream(seed, "category", start, stop)
        genre = _dictionary(self.genre(c.take(16)), self.genre_values)
        language = _dictionary(self.language(c.take(16)), self.language_values)
        _, first, last = self.people.draw(a)
        author = compose(self.pieces, self.people.full_name_pieces(first, last))

        d = self._stream(seed, "numbers", start, stop)
        premiere_days = self.premiere(d.take(20)).astype(np.int32) + self.premiere_epoch
        premiere = pa.array(premiere_days, pa.int32()).cast(pa.date32())
        runtime = pa.array(self.runtime(d.take(16)).astype(np.int64) + self.runtime_lo, pa.int64())
        rating = pa.array(self.rating(d.take(16)) / 100.0, pa.float64())
        return pa.RecordBatch.from_arrays(
            [title, genre, premiere, runtime, rating, language, author], names=self.schema.column_names[1:])  # the old classes had no id column


class ClientsGenerator(DatasetGenerator):
    schema = schema.CLIENTS

    _SEPARATORS = ("", ".", "_")  # between first and last name in a mail address
    _SEPARATOR_WEIGHTS = (0.55, 0.30, 0.15)
    _PERMUTATIONS = 4096  # random genre orders to start from, each also rotated by 0..11

    def __init__(self):
        v = load_vocabulary()
        self.pieces = Pieces()
        self.people = _People(self.pieces)
        self.sex_values = pa.array(schema.SEXES, pa.string())
        # Mail: first (lower) + separator + last (lower) + digits + '@domain'.
        self.mail_first = self.pieces.add(n.lower() for n in self.people.first)
        self.mail_sep = self.pieces.add(self._SEPARATORS)
        self.mail_last = self.pieces.add(n.lower() for n in self.people.last_names)
        digits = [""] + [f"{i:02d}" for i in range(100)] + [str(y) for y in range(1950, 2008)]
        self.n_digits = len(digits)
        self.digit_weights = WeightedChoice([50.0] + [0.3] * 100 + [0.35] * 58, bits=12)
        self.mail_digits = self.pieces.add(digits)
        self.mail_domain = self.pieces.add("@" + d for d in schema.MAIL_DOMAINS)
        self.domain = WeightedChoice([30, 18, 14, 12, 8, 8, 5, 5], bits=8)
        self.separator = WeightedChoice(self._SEPARATOR_WEIGHTS, bits=8)
        # Genres: k of them (fewer more frequent) in a random order, without repeats.
        g = len(schema.GENRES)
        self.n_genres = g
        self.genre_count = WeightedChoice([26, 24, 18, 12, 7, 4, 3, 2, 1.5, 1, 0.8, 0.7][:g], bits=10)
        rng = np.random.Generator(np.random.PCG64(20240611))
        self.permutations = np.argsort(rng.random((self._PERMUTATIONS, g)), axis=1).astype(np.int64)
        self.genre_comma = self.pieces.add(name + "," for name in schema.GENRES)
        self.genre_last = self.pieces.add(schema.GENRES)
        self.empty = self.pieces.add([""])
        # Languages: 1 to 3, the first by popularity, the others uniformly among the rest.
        self.n_languages = len(schema.LANGUAGES)
        self.language_count = WeightedChoice([0.6, 0.3, 0.1][: schema.CLIENT_LANGUAGES_MAX], bits=8)
        self.first_language = WeightedChoice([_LANGUAGE_WEIGHTS[x] for x in schema.LANGUAGES])
        self.language_comma = self.pieces.add(name + "," for name in schema.LANGUAGES)
        self.language_last = self.pieces.add(schema.LANGUAGES)
        self.cars = pa.array(v.cars, pa.string())
        lo, hi = schema.CREDIT_SCORE
        self.credit_lo = lo
        self.credit = discretised(lambda x: np.exp(-((x - 680.0) ** 2) / (2 * 85.0 ** 2)), lo, hi)

    def batch(self, seed: int, start: int, stop: int) -> pa.RecordBatch:
        p = self._stream(seed, "person", start, stop)
        is_male, first, last = self.people.draw(p)
        name = compose(self.pieces, self.people.full_name_pieces(first, last))
        sex = _dictionary(1 - is_male, self.sex_values)  # SEXES is (Male, Female)
        separator = self.separator(p.take(8))
        digits = self.digit_weights(p.take(12))
        mail = compose(self.pieces, np.stack([
            first + self.mail_first, separator + self.mail_sep, last + self.mail_last,
            digits + self.mail_digits, self.domain(p.take(8)) + self.mail_domain], axis=1))

        # Genres: the first k of a random order (one of 4096 permutations, rotated by 0..11).
        q = self._stream(seed, "genres", start, stop)
        g = self.n_genres
        k = (self.genre_count(q.take(10)) + 1)[:, None]
        perm = self.permutations[q.take(12)]
        perm += q.uniform(g, 8)[:, None]
        perm %= g
        slots = np.arange(g)[None, :]
        genres = compose(self.pieces, np.where(
            slots < k - 1, perm + self.genre_comma, np.where(slots == k - 1, perm + self.genre_last, self.empty)))

        # Languages: the first by popularity, the others at distinct offsets 1..m-1 from it.
        m = self.n_languages
        lk = self.language_count(q.take(8)) + 1
        l0 = self.first_language(q.take(16)).astype(np.int64)
        o1 = q.uniform(m - 1, 8)
        r = self._stream(seed, "other", start, stop)
        o2 = r.uniform(m - 2, 8)
        o2 = np.where(o2 >= o1, o2 + 1, o2)
        l1 = (l0 + 1 + o1) % m
        l2 = (l0 + 1 + o2) % m
        languages = compose(self.pieces, np.stack([
            np.where(lk == 1, l0 + self.language_last, l0 + self.language_comma),
            np.where(lk == 1, self.empty, np.where(lk == 2, l1 + self.language_last, l1 + self.language_comma)),
            np.where(lk == 3, l2 + self.language_last, self.empty),
        ], axis=1))

        car = _dictionary(r.uniform(len(self.cars)), self.cars)
        credit = pa.array(self.credit(r.take(16)).astype(np.int64) + self.credit_lo, pa.int64())
        return pa.RecordBatch.from_arrays(
            [name, sex, mail, genres, languages, car, credit], names=self.schema.column_names[1:])  # the old classes had no id column


_GENERATORS = {"films": FilmsGenerator, "clients": ClientsGenerator}


@functools.cache
def generator(dataset: str) -> DatasetGenerator:
    """The generator of a dataset, built once per process."""
    schema.get(dataset)  # a clear error for an unknown name
    return _GENERATORS[dataset]()
