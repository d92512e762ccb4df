"""HL7 speed with the same guarantees: few statements per new order, the catalog cached but never stale, history
rows naming the interface, and the optimistic path falling back to the careful one whenever it fails."""

import contextlib
from collections.abc import Iterator

import pytest
from django.db import connection, transaction

from interfaces import catalog as catalog_cache
from interfaces.models import InboundMessage, Sender
from interfaces.services import message_receive
from ris.models import ProcedureType
from ris.selectors import sequence_last
from scheduling.models import AccessionNumber, Exam, Order
from tests.conftest import need
from tests.factories import PatientFactory, ReferringPhysicianFactory
from tests.interfaces.conftest import msh, segment

pytestmark = pytest.mark.django_db

STATEMENTS_PER_NEW_ORDER = 8


def cis_order(
    control_id: str, *, version: str = "2.5.1", placer: str = "", code: str = "CTHEAD", provider="", obr_18=""
) -> str:
    """An ORM^O01 NW as a CIS sends it: PID, PV1 with the visit, ORC, OBR with the reason, a diagnosis."""
    placer = placer or f"PL{control_id}"
    return "\r".join(
        [
            msh(control_id, "ORM^O01^ORM_O01" if version != "2.3" else "ORM^O01", version=version),
            "PID|1||P100^^^HOSP^MR||Müller^Jürgen^K^^Dr||19700102|M|||Hauptstr. 1^^Berlin^^10115^DE||030 1234567",
            "PV1|1|O|||||||||||||||||V123",
            segment("ORC", {1: "NW", 2: f"{placer}^CIS", 12: provider}),
            segment(
                "OBR",
                {1: "1", 2: f"{placer}^CIS", 4: f"{code}^CT head^99RIS", 18: obr_18, 24: "CT", 31: "^Headache"},
            ),
            "DG1|1||R51.9^Headache^I10",
        ]
    )


def msa(ack: str) -> list[str]:
    return next(s for s in ack.split("\r") if s.startswith("MSA|")).split("|")


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """The SQL text of every statement run on the connection (an execute wrapper: it sees the statements compiled
    once and bound on the server too, whose text Django's query log does not record)."""
    sql: list[str] = []

    def record(execute, statement, params, many, context):
        sql.append(statement)
        return execute(statement, params, many, context)

    with connection.execute_wrapper(record):
        yield sql


def statements_of(control_id: str, **message) -> list[str]:
    """The SQL the RIS runs to store, apply and answer one message. The test runs in a transaction, so the
    listener's transaction is a savepoint here: that first and last pair is the test's, not the RIS's (Django
    logs no BEGIN or COMMIT)."""
    with recording() as sql:
        ack = message_receive(cis_order(control_id, **message).encode())
    assert msa(ack)[1] == "AA", ack
    assert sql[0].startswith("SAVEPOINT")
    assert sql[-1].startswith("RELEASE SAVEPOINT")
    return sql[1:-1]


@pytest.mark.parametrize("version", ["2.3", "2.5.1"])
def test_a_new_order_for_a_known_patient_takes_at_most_eight_statements_and_no_savepoint(catalog, version):
    PatientFactory(mrn="P100", mrn_issuer="HOSP", family_name="Müller", given_name="Jürgen")
    message_receive(cis_order("WARM", version=version).encode())  # the patient's demographics as the CIS has them
    statements = statements_of("C1", version=version)
    assert len(statements) <= STATEMENTS_PER_NEW_ORDER, "\n".join(s[:120] for s in statements)
    assert not [s for s in statements if "SAVEPOINT" in s]
    # Patient and catalog stamp, the three sequences, order, its history, accession, exam, its history, message.
    assert sum(s.startswith("SELECT") and "nextval(" not in s for s in statements) == 1


def test_on_postgresql_every_statement_of_a_new_order_is_prepared_once_and_reused(catalog):
    """The listener's connection serves message after message of the same kinds: PostgreSQL parses and plans each
    statement of the path once per connection, and every later message executes the prepared statement."""
    need(connection.vendor == "postgresql", "prepared statements are a PostgreSQL matter")
    PatientFactory(mrn="P100", mrn_issuer="HOSP", family_name="Müller", given_name="Jürgen")
    message_receive(cis_order("WARM").encode())

    def executions() -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
            return dict(cursor.fetchall())

    before = executions()
    for control_id in ("C1", "C2"):
        assert msa(message_receive(cis_order(control_id).encode()))[1] == "AA"
    after = executions()
    ran = {text: count - before.get(text, 0) for text, count in after.items() if count != before.get(text, 0)}
    for table in ("scheduling_order", "scheduling_exam", "interfaces_inboundmessage"):
        assert any(f'INSERT INTO "{table}"' in text and count == 2 for text, count in ran.items()), table
    assert any("nextval(" in text and count == 2 for text, count in ran.items())  # the identifiers
    assert set(after) - set(before) == set(), "a statement of the path was prepared again for a later message"
    import psycopg

    with connection.cursor() as cursor:  # and the rest of the application keeps Django's client-side binding
        assert isinstance(cursor.cursor, psycopg.ClientCursor)


def test_an_ordering_provider_the_ris_knows_costs_one_statement_more(catalog):
    ReferringPhysicianFactory(npi="1234567893", family_name="House")
    message_receive(cis_order("WARM").encode())
    statements = statements_of("C1", provider="1234567893^House^Gregory^^^^^^NPI")
    assert len(statements) <= STATEMENTS_PER_NEW_ORDER + 1, "\n".join(s[:150] for s in statements)
    assert Order.objects.get(placer_order_number="PLC1").referring_physician.family_name == "House"


def test_history_rows_written_in_bulk_name_the_interface(catalog):
    message_receive(cis_order("C1").encode())
    order = Order.objects.get(placer_order_number="PLC1")
    exam = order.exams.get()
    assert [(h.history_type, h.history_actor) for h in order.history.all()] == [("+", "HL7:CIS")]
    assert [(h.history_type, h.history_actor, h.status) for h in exam.history.all()] == [("+", "HL7:CIS", "ORDERED")]
    assert AccessionNumber.objects.get(number=exam.accession_number).order == order


def test_a_procedure_changed_in_the_catalog_is_seen_by_the_next_message(catalog):
    assert msa(message_receive(cis_order("C1").encode()))[1] == "AA"  # the catalog is cached now
    head = ProcedureType.objects.get(code="CTHEAD")
    head.code = "CTHEAD1"
    head.save()
    refused = message_receive(cis_order("C2").encode())
    assert msa(refused)[1] == "AE"
    assert "CTHEAD" in refused
    assert msa(message_receive(cis_order("C3", code="cthead1").encode()))[1] == "AA"
    assert Exam.objects.get(order__placer_order_number="PLC3").procedure_type == head


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE ris_proceduretype SET active = false WHERE code = 'CTHEAD'",
        "UPDATE ris_modality SET code = 'XX' WHERE code = 'CT'",  # the procedure's modality, read with it
        "INSERT INTO interfaces_sender (created_at, updated_at, name, facility, addresses, assigns_accession_numbers,"
        " accession_issuer, enabled) VALUES ('2026-01-01', '2026-01-01', 'CIS', '', '[]', true, '', true)",
    ],
)
def test_a_change_in_sql_as_another_process_would_make_it_is_seen_by_the_next_message(catalog, change):
    """A change made outside this process's ORM reaches the cache only through the database: the triggers stamp it."""
    first = message_receive(cis_order("C1", obr_18="XC1").encode())
    assert msa(first)[1] == "AA"
    with connection.cursor() as cursor:
        cursor.execute(change.replace("true", "1") if connection.vendor == "sqlite" else change)
    ack = message_receive(cis_order("C2", obr_18="XC2").encode())
    if "ris_proceduretype" in change:
        assert msa(ack)[1] == "AE"
    elif "ris_modality" in change:  # OBR-24 CT no longer fits the procedure's modality: applied with a warning
        assert msa(ack)[1] == "AA"
        assert "a XX procedure" in ack
    else:  # the CIS assigns accession numbers now: OBR-18 is taken as the accession number
        assert Order.objects.get(placer_order_number="PLC1").accession_number.startswith("A")
        assert Order.objects.get(placer_order_number="PLC2").accession_number == "XC2"


def test_a_rolled_back_catalog_change_is_not_served_after_the_rollback(catalog):
    assert msa(message_receive(cis_order("C1").encode()))[1] == "AA"
    before = catalog_cache.stamp_read()
    seen_inside = []

    def change_then_roll_back() -> None:
        with transaction.atomic():
            ProcedureType.objects.filter(code="CTHEAD").update(active=False)
            seen_inside.append(msa(message_receive(cis_order("C2").encode()))[1])  # cached: the catalog changed
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_then_roll_back()
    assert seen_inside == ["AE"]
    assert catalog_cache.stamp_read() == before
    assert msa(message_receive(cis_order("C3").encode()))[1] == "AA"


def test_a_ris_accession_number_held_elsewhere_is_skipped_by_the_careful_retry(catalog, settings):
    settings.RIS_ACCESSION_PATTERN = "A{seq:09d}"
    following = sequence_last("accession") + 1
    AccessionNumber.objects.create(number=f"A{following:09d}", issuer="OTHERPACS")  # the RIS's next number, taken
    ack = message_receive(cis_order("C1").encode())
    assert msa(ack)[1] == "AA"
    exam = Exam.objects.get(order__placer_order_number="PLC1")
    assert exam.accession_number == f"A{following + 1:09d}"
    assert InboundMessage.objects.get(control_id="C1").status == InboundMessage.Status.APPLIED


def test_an_order_refused_after_the_optimistic_attempt_is_stored_with_its_ae(catalog):
    assert msa(message_receive(cis_order("C1", placer="SAME").encode()))[1] == "AA"
    ack = message_receive(cis_order("C2", placer="SAME").encode())  # the placer number again: 205 at ORC-2
    assert msa(ack)[1] == "AE"
    stored = InboundMessage.objects.get(control_id="C2")
    assert (stored.status, stored.ack) == (InboundMessage.Status.ERROR, ack)
    assert Order.objects.filter(placer_order_number="SAME").count() == 1


class _Deadlock(Exception):
    sqlstate = "40P01"  # as psycopg's DeadlockDetected carries it


def test_an_order_that_lost_a_deadlock_is_applied_again_and_acknowledged_once(catalog, monkeypatch):
    """Two connections' orders taking the same identifier rows at once: PostgreSQL aborts one transaction with a
    deadlock; that message is applied again, not answered with a closed connection."""
    from django.db import OperationalError

    from interfaces.services import receiving

    handler = receiving.HANDLERS[("ORM", "O01")]
    calls = []

    def deadlocked_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from _Deadlock()
        return handler(*args, **kwargs)

    monkeypatch.setitem(receiving.HANDLERS, ("ORM", "O01"), deadlocked_once)
    ack = message_receive(cis_order("D1").encode())
    assert (msa(ack)[1], len(calls)) == ("AA", 2)
    assert Order.objects.filter(placer_order_number="PLD1").count() == 1
    assert InboundMessage.objects.get(control_id="D1").status == InboundMessage.Status.APPLIED


def test_an_operational_error_that_is_not_a_conflict_is_not_tried_again(catalog, monkeypatch):
    from django.db import OperationalError

    from interfaces.services import receiving

    calls = []

    def connection_lost(*args, **kwargs):
        calls.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setitem(receiving.HANDLERS, ("ORM", "O01"), connection_lost)
    with pytest.raises(OperationalError):
        message_receive(cis_order("D2").encode())
    assert len(calls) == 1


def test_closed_a_new_order_takes_one_statement_more_for_the_senders_and_none_builds_a_query(catalog, settings):
    """Closed, the sender's address is checked against the catalog cache: its stamp read (one statement), not the
    sender rows."""
    settings.RIS_HL7_OPEN = False
    Sender.objects.create(name="CIS", addresses=["127.0.0.1"])
    PatientFactory(mrn="P100", mrn_issuer="HOSP", family_name="Müller", given_name="Jürgen")
    message_receive(cis_order("WARM").encode(), peer="127.0.0.1:40000")
    with recording() as sql:
        ack = message_receive(cis_order("C1").encode(), peer="127.0.0.1:40000")
    assert msa(ack)[1] == "AA", ack
    statements = sql[1:-1]
    assert len(statements) <= STATEMENTS_PER_NEW_ORDER + 1, "\n".join(s[:120] for s in statements)
    assert not [s for s in statements if "interfaces_sender" in s]


def test_closed_a_sender_address_changed_in_sql_is_seen_by_the_next_message(catalog, settings):
    settings.RIS_HL7_OPEN = False
    Sender.objects.create(name="CIS", addresses=["127.0.0.1"])
    assert msa(message_receive(cis_order("C1").encode(), peer="127.0.0.1:40000"))[1] == "AA"  # cached now
    with connection.cursor() as cursor:
        cursor.execute("UPDATE interfaces_sender SET addresses = '[\"127.0.0.2\"]' WHERE name = 'CIS'")
    assert msa(message_receive(cis_order("C2").encode(), peer="127.0.0.1:40000"))[1] == "AR"
    assert msa(message_receive(cis_order("C3").encode(), peer="127.0.0.2:40000"))[1] == "AA"
