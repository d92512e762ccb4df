"""Statements compiled once (ris.statements): what they return is what their queryset returns, on SQLite and on
PostgreSQL, and Django does not compile them again."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from clinical.models import Observation
from ris.models import Patient
from ris.statements import Slot, Statement, pipelined, run_together
from scheduling.models import Order
from tests.conftest import need
from tests.factories import PatientFactory, make_order

pytestmark = pytest.mark.django_db

PATIENTS = Slot("patients")


def observation(patient: Patient, kind: str, value: str, at: datetime) -> Observation:
    return Observation.objects.create(patient=patient, kind=kind, value=Decimal(value), unit="kg", observed_at=at)


def test_model_rows_are_the_querysets_instances_field_by_field():
    first, second, other = PatientFactory.create_batch(3)
    at = datetime(2026, 3, 1, 8, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    for patient in (first, second, other):
        observation(patient, Observation.Kind.WEIGHT, "71.25", at)
    query = lambda ids: Observation.objects.filter(patient_id__any_of=ids).order_by("id")  # noqa: E731
    statement = Statement(lambda: query(PATIENTS))

    rows = statement.all(patients=[second.pk, first.pk])

    expected = list(query([first.pk, second.pk]))
    assert [row.pk for row in rows] == [row.pk for row in expected]
    assert len(rows) == 2
    fields = [field.attname for field in Observation._meta.concrete_fields]
    assert [[getattr(row, name) for name in fields] for row in rows] == [
        [getattr(row, name) for name in fields] for row in expected
    ]
    assert rows[0].value == Decimal("71.25")
    assert rows[0].observed_at == at
    assert not rows[0]._state.adding
    assert rows[0]._state.db == "default"


def test_values_list_rows_and_flat_lists_with_json_and_dates():
    patient = PatientFactory(birth_date=date(1980, 2, 29))
    order = make_order(patient=patient, diagnosis_codes=["R51", "G43.909"])
    rows = Statement(
        lambda: Order.objects.filter(id__any_of=Slot("orders")).values_list(
            "id", "diagnosis_codes", "patient__birth_date"
        )
    ).all(orders=[order.pk])
    flat = Statement(lambda: Order.objects.filter(patient_id__any_of=PATIENTS).values_list("id", flat=True))

    assert rows == [(order.pk, ["R51", "G43.909"], date(1980, 2, 29))]
    assert flat.all(patients=[patient.pk]) == [order.pk]


def test_the_queryset_is_built_and_compiled_once_whatever_the_lists_length():
    patients = PatientFactory.create_batch(3)
    builds = []
    statement = Statement(lambda: builds.append(1) or Patient.objects.filter(pk__any_of=PATIENTS).values_list("mrn"))

    with CaptureQueriesContext(connection) as captured:
        for count in (1, 3, 2):
            assert len(statement.all(patients=[patient.pk for patient in patients[:count]])) == count

    assert builds == [1]
    assert len(captured.captured_queries) == 3


def test_an_empty_list_matches_nothing_and_strings_match_as_strings():
    PatientFactory(mrn="A-1")
    by_mrn = Statement(lambda: Patient.objects.filter(mrn__any_of=Slot("mrns")).values_list("mrn", flat=True))

    assert by_mrn.all(mrns=[]) == []
    assert by_mrn.all(mrns=["A-1", "a-1", "A-"]) == ["A-1"]
    assert list(Patient.objects.filter(mrn__any_of=["A-1"]).values_list("mrn", flat=True)) == ["A-1"]
    assert list(Patient.objects.filter(mrn__any_of=[])) == []


def test_a_slot_in_an_exact_lookup_with_an_annotation_and_first():
    patient = PatientFactory(mrn="M-7", mrn_issuer="CIS")
    PatientFactory(mrn="M-7", mrn_issuer="OTHER")
    make_order(patient=patient)
    statement = Statement(
        lambda: (
            Patient.objects.filter(mrn=Slot("mrn"), mrn_issuer=Slot("issuer"))
            .annotate(order_count=Count("orders"))
            .order_by("pk")[:1]
        )
    )

    found = statement.first(mrn="M-7", issuer="CIS")

    assert found == patient
    assert found.order_count == 1
    assert found.mrn_issuer == "CIS"
    assert statement.first(mrn="M-7", issuer="NONE") is None


def test_a_slot_that_a_lookup_would_change_is_refused():
    statement = Statement(lambda: Patient.objects.filter(mrn__contains=Slot("mrn")))
    with pytest.raises(ValueError, match="changed the slot"):
        statement.all(mrn="7")


def test_a_queryset_it_cannot_return_as_django_would_is_refused():
    with pytest.raises(ValueError, match="plain model"):
        Statement(lambda: Order.objects.select_related("patient").filter(id__any_of=Slot("orders"))).all(orders=[1])
    with pytest.raises(ValueError, match="plain model"):
        Statement(lambda: Order.objects.filter(id__any_of=Slot("orders")).values("id")).all(orders=[1])


def test_statements_run_together_give_each_its_own_rows_in_one_pipeline_on_postgresql(monkeypatch):
    first, second = PatientFactory.create_batch(2)
    make_order(patient=second)
    mrns = Statement(lambda: Patient.objects.filter(pk__any_of=PATIENTS).order_by("pk").values_list("mrn", flat=True))
    orders = Statement(lambda: Order.objects.filter(patient_id__any_of=PATIENTS).values_list("patient_id", flat=True))
    pipelines = []
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        real = connection.connection.pipeline
        monkeypatch.setattr(connection.connection, "pipeline", lambda: pipelines.append(1) or real())

    together = run_together([(mrns, {"patients": [first.pk, second.pk]}), (orders, {"patients": [second.pk]})])

    assert together == [[first.mrn, second.mrn], [second.pk]]
    assert together == [mrns.all(patients=[first.pk, second.pk]), orders.all(patients=[second.pk])]
    assert pipelines == ([1] if connection.vendor == "postgresql" else [])  # one for both; none for one statement


# --- pipelined: statements whose answer nobody reads are not waited for ------------------------------------------


@pytest.fixture
def postgresql_pipeline(db):
    need(connection.vendor == "postgresql", "psycopg's pipeline mode is PostgreSQL's")


def test_in_a_pipeline_a_statement_whose_answer_is_not_read_is_not_waited_for(postgresql_pipeline):
    patient = PatientFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), pipelined(connection):  # noqa: PT012
        with connection.cursor() as cursor:
            # A duplicate key: no error yet, the statement has not even been answered ...
            cursor.execute("INSERT INTO ris_patient SELECT * FROM ris_patient WHERE id = %s", [patient.pk])
        reached = True
        Patient.objects.filter(pk=patient.pk).count()  # ... until a statement whose answer is read
    assert reached
    assert Patient.objects.filter(pk=patient.pk).count() == 1


def test_in_a_pipeline_djangos_save_still_reads_an_updates_row_count(postgresql_pipeline):
    """Django's save of a stored row runs an UPDATE and inserts when its row count is 0: the count must be waited
    for, or the row would be inserted a second time."""
    patient = PatientFactory(family_name="Before")
    with transaction.atomic(), pipelined(connection):
        patient.family_name = "After"
        patient.save()
        updated = Patient.objects.filter(pk=patient.pk).update(given_name="Changed")
    assert updated == 1
    assert list(Patient.objects.filter(pk=patient.pk).values_list("family_name", "given_name")) == [
        ("After", "Changed")
    ]


def test_in_a_pipeline_a_savepoint_rolled_back_after_a_failed_statement_lets_the_transaction_go_on(
    postgresql_pipeline,
):
    patient = PatientFactory()
    with transaction.atomic(), pipelined(connection):
        try:
            with transaction.atomic():
                Patient.objects.create(mrn=patient.mrn, mrn_issuer=patient.mrn_issuer, family_name="Twin")
        except IntegrityError:
            pass
        PatientFactory(family_name="Next")
    assert Patient.objects.filter(family_name="Next").exists()
    assert not Patient.objects.filter(family_name="Twin").exists()


def test_what_waits_for_the_answers_runs_at_the_pipelines_end_in_order_or_is_dropped_when_it_fails(
    postgresql_pipeline,
):
    from ris.inserts import insert
    from ris.statements import when_synced

    ran: list[str] = []
    row = PatientFactory.build(mrn="LATER")
    with transaction.atomic(), pipelined(connection):
        insert([row], read_keys="when synced")
        when_synced(connection, lambda: ran.append(f"logged {row.pk}"))
        assert row.pk is None  # not answered yet: nothing waited for it
        assert ran == []
    assert ran == [f"logged {row.pk}"]
    assert Patient.objects.get(pk=row.pk).mrn == "LATER"

    dropped: list[str] = []
    with pytest.raises(RuntimeError), transaction.atomic(), pipelined(connection):  # noqa: PT012
        when_synced(connection, lambda: ran.append("never"), on_drop=lambda: dropped.append("dropped"))
        raise RuntimeError
    assert dropped == ["dropped"]
    assert "never" not in ran
    when_synced(connection, lambda: ran.append("outside"))  # outside a pipeline: at once
    assert ran[-1] == "outside"
