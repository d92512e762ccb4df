"""A selector's query compiled once and run again: the same row `.first()` reads, with its annotations."""

import datetime

import pytest
from django.db.models import Value

from ris.models import Patient
from ris.precompiled import Precompiled
from ris.selectors import mrn_issuer, patients_by_mrn
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def by_mrn() -> Precompiled:
    return Precompiled(Patient, lambda mrn, issuer: patients_by_mrn(mrn, issuer).annotate(tag=Value(7)))


def test_a_precompiled_query_reads_what_first_reads_for_every_value_it_is_given():
    query = by_mrn()
    one = PatientFactory(mrn="M1", mrn_issuer="HOSP", birth_date=datetime.date(1961, 4, 2))
    two = PatientFactory(mrn="M2", mrn_issuer=mrn_issuer(""))
    found = query.first(mrn="M1", issuer="HOSP")
    assert found == patients_by_mrn("M1", "HOSP").first()
    assert found.birth_date == datetime.date(1961, 4, 2)  # converted from the database (a string on SQLite)
    fields = [field.attname for field in Patient._meta.concrete_fields]
    assert [getattr(found, name) for name in fields] == [getattr(one, name) for name in fields]
    assert found.tag == 7
    assert query.first(mrn="M2", issuer=mrn_issuer("")) == two
    assert query.first(mrn="M1", issuer="OTHER") is None


def test_a_precompiled_query_sees_a_change_made_after_it_was_compiled():
    query = by_mrn()
    patient = PatientFactory(mrn="M1", mrn_issuer="HOSP", family_name="Lee")
    assert query.first(mrn="M1", issuer="HOSP").family_name == "Lee"
    Patient.objects.filter(pk=patient.pk).update(family_name="Li")
    assert query.first(mrn="M1", issuer="HOSP").family_name == "Li"


def test_a_selector_that_changes_a_value_cannot_be_precompiled():
    query = Precompiled(Patient, lambda mrn: Patient.objects.filter(mrn=mrn.upper()))
    with pytest.raises(ValueError, match="mrn not passed unchanged"):
        query.first(mrn="m1")
