"""Build ``datagen/data/vocabulary.json`` from Faker's and faker-vehicle's provider data.

Run once, offline, when the vocabularies should change (the JSON is committed, so neither Faker nor
faker-vehicle is imported while generating)::

    pip install -e '.[vocabulary]' && python -m datagen.build_vocabulary

The output is sorted and stable: rebuilding from the same package versions gives the same file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUTPUT = Path(__file__).with_name("data") / "vocabulary.json"


def build() -> dict:
    from faker.providers.lorem.en_US import Provider as Lorem
    from faker.providers.person.en_US import Provider as Person
    from faker_vehicle.vehicle_dict import vehicles

    def weighted(names) -> list:
        return [[name, round(float(weight), 9)] for name, weight in sorted(names.items())]

    from importlib.metadata import version

    return {
        "about": (
            f"Built by python -m datagen.build_vocabulary from faker {version('faker')} (lorem en_US word list, "
            f"person en_US names with frequencies) and faker-vehicle {version('faker-vehicle')} "
            "(make and model). Do not edit by hand."
        ),
        "words": sorted({w.capitalize() for w in Lorem.word_list}),
        "first_names_male": weighted(Person.first_names_male),
        "first_names_female": weighted(Person.first_names_female),
        "last_names": weighted(Person.last_names),
        "cars": sorted({f"{v['Make']} {v['Model']}" for v in vehicles}),
    }


def main() -> int:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(build(), indent=0, ensure_ascii=True) + "\n")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
