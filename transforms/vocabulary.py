"""The vocabularies the generators draw from, loaded once per process from the JSON kept in the package.

``transforms/data/vocabulary.json`` is built offline from Faker's and faker-vehicle's provider data by
``python -m transforms.build_vocabulary``; Faker is never imported while generating.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Vocabulary:
    words: tuple[str, ...]
    first_names_male: tuple[str, ...]
    first_names_male_weights: tuple[float, ...]
    first_names_female: tuple[str, ...]
    first_names_female_weights: tuple[float, ...]
    last_names: tuple[str, ...]
    last_names_weights: tuple[float, ...]
    cars: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def load() -> Vocabulary:
    raw = json.loads(resources.files("transforms").joinpath("data/vocabulary.json").read_text())

    def names(key):
        return tuple(n for n, _ in raw[key]), tuple(float(w) for _, w in raw[key])

    male, male_w = names("first_names_male")
    female, female_w = names("first_names_female")
    last, last_w = names("last_names")
    return Vocabulary(
        words=tuple(raw["words"]),
        first_names_male=male,
        first_names_male_weights=male_w,
        first_names_female=female,
        first_names_female_weights=female_w,
        last_names=last,
        last_names_weights=last_w,
        cars=tuple(raw["cars"]),
    )
