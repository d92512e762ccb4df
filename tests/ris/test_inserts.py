"""Rows inserted with their INSERT compiled once: the rows bulk_create and simple-history would write."""

import pytest

from ris.inserts import insert
from ris.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_insert_writes_the_rows_bulk_create_writes_and_reads_their_keys_back():
    from scheduling.models import Exam
    from tests.factories import make_booked_exam

    exam = make_booked_exam()
    fields = [field.attname for field in Exam._meta.concrete_fields if not field.primary_key]
    unique = {"accession_number", "requested_procedure_id", "scheduled_procedure_step_id", "study_instance_uid"}

    def copy(suffix: str) -> Exam:
        values = {name: getattr(exam, name) for name in fields}
        values |= {name: f"{values[name]}{suffix}"[-16:] for name in unique}
        values |= {"room_id": None, "scheduled_start": None, "scheduled_end": None, "status": Exam.Status.ORDERED}
        return Exam(**values)

    by_django, by_insert = [copy("1"), copy("2")], [copy("3"), copy("4")]
    Exam.objects.bulk_create(by_django)
    insert(by_insert)
    assert all(not obj._state.adding and obj.pk for obj in by_insert)
    stored = {row.pk: row for row in Exam.objects.filter(pk__in=[obj.pk for obj in by_django + by_insert])}
    assert [stored[obj.pk].accession_number for obj in by_insert] == [obj.accession_number for obj in by_insert]
    assert all(stored[obj.pk].created_at and stored[obj.pk].updated_at for obj in by_insert)  # pre_save ran
    same = [name for name in fields if name not in unique | {"created_at", "updated_at"}]
    assert [[getattr(stored[o.pk], n) for n in same] for o in by_insert] == [
        [getattr(stored[o.pk], n) for n in same] for o in by_django
    ]


def test_history_rows_written_in_bulk_equal_simple_historys_own():
    from ris.audit import Interface, attribute, history_bulk_create

    patient = PatientFactory()
    attribute(patient, Interface("HL7", "CIS"), "a reason")
    history_bulk_create(Patient, [patient], Interface("HL7", "CIS"))
    Patient.history.bulk_history_create(
        [patient], custom_historical_attrs={"history_actor": "HL7:CIS"}
    )  # simple-history's own, the reference
    *_, ours, theirs = Patient.history.filter(id=patient.pk).order_by("history_id")
    skip = {"history_id", "history_date"}
    fields = [f.attname for f in Patient.history.model._meta.concrete_fields if f.attname not in skip]
    assert [getattr(ours, name) for name in fields] == [getattr(theirs, name) for name in fields]
    assert (ours.history_actor, ours.history_change_reason, ours.history_type) == ("HL7:CIS", "a reason", "+")
