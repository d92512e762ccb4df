"""One search box: MRN, name fragments in any order (case- and accent-insensitive), birth date."""

from datetime import date

import pytest

from ris.selectors import patient_likely_duplicates, patient_search
from ris.services import patient_merge
from ris.text import fold
from tests.factories import TEST_ACTOR, PatientFactory


@pytest.fixture
def patients(db):
    return {
        "jurgen": PatientFactory(mrn="M1001", family_name="Müller", given_name="Jürgen", birth_date=date(1961, 4, 2)),
        "anna": PatientFactory(mrn="M1002", family_name="Müller", given_name="Anna", birth_date=date(1990, 12, 24)),
        "ase": PatientFactory(mrn="M1003", family_name="Øster", given_name="Åse", birth_date=date(1975, 7, 14)),
        "john": PatientFactory(mrn="m1004x", family_name="Smith", given_name="John", birth_date=date(1961, 4, 2)),
    }


def found(query: str) -> set[str]:
    return {p.mrn for p in patient_search(query)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("mull jur", {"M1001"}),
        ("jur mull", {"M1001"}),
        ("muller", {"M1001", "M1002"}),
        ("MÜLLER anna", {"M1002"}),
        ("oster", {"M1003"}),
        ("ase", {"M1003"}),
        ("M1002", {"M1002"}),
        ("M1004X", {"m1004x"}),
        ("1961-04-02", {"M1001", "m1004x"}),
        ("02.04.1961 smith", {"m1004x"}),
        ("04/02/1961 mul", {"M1001"}),
        ("nobody", set()),
        ("   ", set()),
    ],
)
def test_search_finds_patients_by_mrn_name_fragments_and_birth_date(patients, query, expected):
    assert found(query) == expected


def test_search_leaves_out_records_merged_into_another(patients):
    patient_merge(source=patients["anna"], target=patients["jurgen"], acting_user=TEST_ACTOR)
    assert found("muller") == {"M1001"}


def test_search_is_capped(db):
    for _ in range(5):
        PatientFactory(family_name="Common")
    assert len(patient_search("common", limit=3)) == 3


@pytest.mark.parametrize(
    ("text", "key"),
    [("Müller", "muller"), ("ØSTER  Åse", "oster ase"), ("Łukasiewicz", "lukasiewicz"), ("Straße", "strasse")],
)
def test_folding_ignores_case_accents_and_spacing(text, key):
    assert fold(text) == key


def test_likely_duplicate_is_same_family_name_and_birth_date(patients):
    same = patient_likely_duplicates(family_name="MULLER", birth_date=date(1961, 4, 2))
    assert [p.mrn for p in same] == ["M1001"]
    assert not patient_likely_duplicates(family_name="Müller", birth_date=date(1961, 4, 3)).exists()
    assert not patient_likely_duplicates(
        family_name="Müller", birth_date=date(1961, 4, 2), exclude_id=patients["jurgen"].pk
    ).exists()
