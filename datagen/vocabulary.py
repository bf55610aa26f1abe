"""The vocabularies specs draw from, loaded once per process from the JSON kept in the package.

``datagen/data/vocabulary.json`` is built offline from Faker's and faker-vehicle's provider data by
``python -m datagen.build_vocabulary``; Faker is never imported while generating. A spec names a vocabulary
(``vocabulary: last_names``); :data:`NAMES` lists them and :func:`get` gives the values and their weights.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

# name -> what it holds (the spec reference lists these)
NAMES = {
    "first_names": "first names of both sexes, with US frequencies",
    "first_names_male": "male first names, with US frequencies",
    "first_names_female": "female first names, with US frequencies",
    "last_names": "last names, with US frequencies",
    "words": "common English words, capitalised ('Ability'), equally likely",
    "cars": "car make and model, e.g. 'Kia Sorento', equally likely",
    "cars_economy": "the cars of budget makes (Hyundai, Kia, Suzuki, ...)",
    "cars_mainstream": "the cars of mass-market makes (Ford, Toyota, Volkswagen, ...)",
    "cars_premium": "the cars of premium makes (Audi, BMW, Lexus, Mercedes-Benz, ...)",
    "cars_luxury": "the cars of luxury and sports makes (Bentley, Ferrari, Porsche, ...)",
}

# Car makes by market segment; a make not listed is mainstream.
CAR_SEGMENTS = {
    "economy": ("Hyundai", "Kia", "MAZDA", "Mitsubishi", "Suzuki", "Isuzu", "Scion", "FIAT", "smart", "Daewoo",
                "Geo", "Daihatsu", "Eagle", "Plymouth", "Saturn"),
    "premium": ("Mercedes-Benz", "Audi", "BMW", "Cadillac", "Lexus", "Acura", "INFINITI", "Lincoln", "Volvo",
                "Land Rover", "Jaguar", "Genesis", "Tesla", "Saab", "Alfa Romeo"),
    "luxury": ("Ferrari", "Aston Martin", "Bentley", "Maserati", "McLaren", "Lamborghini", "Lotus", "Rolls-Royce",
               "Maybach", "Porsche", "Fisker", "Panoz", "SRT"),
}


def car_segment(car: str) -> str:
    for segment, makes in CAR_SEGMENTS.items():
        if any(car == m or car.startswith(m + " ") for m in makes):
            return segment
    return "mainstream"


@functools.lru_cache(maxsize=1)
def _segments() -> dict:
    return {c: car_segment(c) for c in _raw()["cars"]}


@functools.lru_cache(maxsize=1)
def _raw() -> dict:
    return json.loads(resources.files("datagen").joinpath("data/vocabulary.json").read_text())


@functools.cache
def get(name: str) -> tuple[tuple[str, ...], tuple[float, ...] | None]:
    """(values, weights or None for equally likely) of a vocabulary."""
    raw = _raw()
    if name == "first_names":
        male, male_w = get("first_names_male")
        female, female_w = get("first_names_female")
        # Half the people of each sex; a name given to both sexes keeps both shares.
        weights: dict[str, float] = {}
        for names, w in ((male, male_w), (female, female_w)):
            total = sum(w)
            for n, x in zip(names, w):
                weights[n] = weights.get(n, 0.0) + x / total
        return tuple(weights), tuple(weights.values())
    if name in ("first_names_male", "first_names_female", "last_names"):
        return tuple(n for n, _ in raw[name]), tuple(float(w) for _, w in raw[name])
    if name in ("words", "cars"):
        return tuple(raw[name]), None
    if name.startswith("cars_"):
        return tuple(c for c in raw["cars"] if _segments()[c] == name[5:]), None
    raise KeyError(name)

