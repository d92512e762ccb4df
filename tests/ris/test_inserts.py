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


def test_rows_with_their_keys_taken_beforehand_are_stored_under_those_keys():
    from ris.services import sequence_take

    keys = sequence_take({}, keys={Patient: 2})[Patient]
    if not keys:  # SQLite: no key is taken beforehand; take two past the current ones
        keys = [(Patient.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + n for n in (1, 2)]
    rows = [PatientFactory.build(pk=key, mrn=f"K{key}") for key in keys]
    insert(rows)
    assert [row.pk for row in rows] == keys
    assert list(Patient.objects.filter(pk__in=keys).order_by("pk").values_list("mrn", flat=True)) == [
        f"K{key}" for key in sorted(keys)
    ]
    assert PatientFactory().pk not in keys  # the database's own next key is past them


def test_rows_whose_keys_are_not_read_are_stored_and_keep_none():
    rows = [PatientFactory.build(mrn="U1"), PatientFactory.build(mrn="U2")]
    insert(rows, read_keys=False)
    assert [row.pk for row in rows] == [None, None]
    assert not any(row._state.adding for row in rows)
    assert Patient.objects.filter(mrn__in=["U1", "U2"]).count() == 2


def test_values_of_other_types_than_a_field_stores_as_they_are_go_through_django():
    """A CharField given a number, a choices enum: Django's preparation turns them into what the column takes (the
    insert passes unchanged only a str to a CharField, an int to an IntegerField, a bool to a BooleanField)."""
    row = PatientFactory.build(mrn=12345, sex=Patient.Sex.FEMALE, family_name="Plain")
    insert([row])
    stored = Patient.objects.values("mrn", "sex", "family_name").get(pk=row.pk)
    assert stored == {"mrn": "12345", "sex": "F", "family_name": "Plain"}
    assert type(stored["sex"]) is str
