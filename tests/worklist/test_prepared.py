"""On PostgreSQL a C-FIND's rows and clinical facts are read by statements prepared on the server once per
connection, with one generic plan, and reused by every later C-FIND whatever its number of matches
(ris.statements); the match query itself, and the rest of the application, keep Django's client-side binding."""

import pytest
from django.db import connection

from ris import statements
from tests.conftest import need
from tests.worklist.test_encode import every_key_query
from tests.worklist.test_mwl_safety import query, worklist
from worklist import scp


@pytest.fixture
def postgresql(department, monkeypatch):
    need(connection.vendor == "postgresql", "prepared statements are a PostgreSQL matter")
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)  # the test's transaction holds the connection
    return department


def plans() -> dict[str, tuple[int, int]]:
    """The statements prepared on this connection: text -> (executions with the generic plan, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return {text: (generic, custom) for text, generic, custom in cursor.fetchall()}


def new_plans(before: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Executions since `before` (the connection lives across tests: so may its statements)."""
    after = plans()
    return {
        text: (generic - before.get(text, (0, 0))[0], custom - before.get(text, (0, 0))[1])
        for text, (generic, custom) in after.items()
        if (generic, custom) != before.get(text)
    }


def test_a_repeated_query_reuses_the_prepared_rows_statement_and_binds_its_match_query_on_the_client(postgresql):
    before = plans()
    for exam in list(postgresql["exams"].values())[:3]:
        assert len(worklist(query(RequestedProcedureID=exam.requested_procedure_id, PatientName=""))) == 1

    prepared = {text: counts for text, counts in new_plans(before).items() if "scheduling_exam" in text}
    # Only the rows: prepared once, three executions, never planned again; the match query (by requested procedure
    # ID) is not among the prepared statements
    assert list(prepared.values()) == [(3, 0)]
    assert "= ANY($1::bigint[])" in next(iter(prepared))


def test_a_repeated_query_by_accession_number_is_one_prepared_statement(postgresql):
    before = plans()
    for accession in [exam.accession_number for exam in postgresql["exams"].values()][:3]:
        assert len(worklist(query(AccessionNumber=accession, PatientName=""))) == 1

    prepared = {text: counts for text, counts in new_plans(before).items() if "scheduling_exam" in text}
    # The matching rows in one statement, prepared once, three executions, never planned again; no ids first
    assert list(prepared.values()) == [(3, 0)]
    assert '"accession_number" = $' in next(iter(prepared))


def test_queries_of_any_number_of_matches_share_the_rows_statement(postgresql):
    before = plans()
    exam = next(iter(postgresql["exams"].values()))
    counts = [len(worklist(query(RequestedProcedureID=exam.requested_procedure_id, PatientName=""))) for _ in "12"]
    counts.append(len(worklist(query(PatientName=""))))

    assert counts[:2] == [1, 1]
    assert counts[2] == len(postgresql["exams"]) > 1
    rows = [text for text in new_plans(before) if '"scheduling_order"' in text]
    assert len(rows) == 1  # one text for 1 and for all the matches (an IN list would have had one text per count)
    assert new_plans(before)[rows[0]] == (3, 0)


def test_the_full_key_set_prepares_the_clinical_queries_too(postgresql):
    before = plans()
    for _ in range(3):
        assert len(worklist(every_key_query("ISO_IR 192"))) == 5

    counts = new_plans(before)
    assert len(counts) > 2  # the exams' rows, and the patients' and exams' clinical facts
    assert set(counts.values()) == {(3, 0)}  # each prepared once, run with its generic plan


def test_outside_a_statement_django_binds_on_the_client(postgresql):
    connection.ensure_connection()
    factory = connection.connection.cursor_factory
    with statements.prepared(connection):
        assert connection.connection.cursor_factory is not factory
        assert connection.connection.prepare_threshold == 0
    assert connection.connection.cursor_factory is factory
    assert connection.connection.prepare_threshold is None
