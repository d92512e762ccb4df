"""On PostgreSQL a C-FIND's statements are prepared on the server and reused by the next C-FIND of the same shape on
the connection (worklist.selectors.prepared_statements); the rest of the application keeps Django's client-side
binding."""

import pytest
from django.db import connection

from tests.conftest import need
from tests.worklist.test_encode import every_key_query
from tests.worklist.test_mwl_safety import query, worklist
from worklist import scp, selectors


@pytest.fixture
def postgresql(department, monkeypatch):
    need(connection.vendor == "postgresql", "prepared statements are a PostgreSQL matter")
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)  # the test's transaction holds the connection
    return department


def executions() -> dict[str, int]:
    """The statements prepared on this connection and how often each was executed (planned or not)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def new_executions(before: dict[str, int]) -> dict[str, int]:
    """Executions since `before` (the connection lives across tests: so may its statements)."""
    return {text: count - before.get(text, 0) for text, count in executions().items() if count != before.get(text)}


def test_a_repeated_query_reuses_its_prepared_statements(postgresql):
    before = executions()
    for accession in [exam.accession_number for exam in postgresql["exams"].values()][:3]:
        assert len(worklist(query(AccessionNumber=accession, PatientName=""))) == 1

    prepared = {text: count for text, count in new_executions(before).items() if "scheduling_exam" in text}
    # The exams' ids and their rows: each prepared on its second execution, executed again
    assert sorted(prepared.values()) == [2, 2]
    assert all("$1" in text for text in prepared)  # the accession number, the ids: parameters, not in the SQL


def test_queries_of_any_number_of_matches_share_the_rows_statement(postgresql):
    before = executions()
    accession = next(iter(postgresql["exams"].values())).accession_number
    counts = [len(worklist(identifier)) for identifier in (query(AccessionNumber=accession, PatientName=""),) * 2]
    counts.append(len(worklist(query(PatientName=""))))

    assert counts[0] == 1
    assert counts[2] == len(postgresql["exams"]) > 1
    rows = [text for text in new_executions(before) if "= ANY($1::bigint[])" in text and '"scheduling_order"' in text]
    assert len(rows) == 1  # one text for 1 and for all the matches (an IN list would have had one text per count)
    assert new_executions(before)[rows[0]] == 2  # prepared on the second C-FIND, used again by the third


def test_the_full_key_set_prepares_the_clinical_queries_too(postgresql):
    before = executions()
    for _ in range(3):
        assert len(worklist(every_key_query("ISO_IR 192"))) == 5

    counts = new_executions(before)
    assert len(counts) > 2  # the exams, and the patients' and exams' clinical facts
    assert set(counts.values()) == {2}  # each prepared on its second execution


def test_outside_a_cfind_django_binds_on_the_client(postgresql):
    connection.ensure_connection()
    factory = connection.connection.cursor_factory
    with selectors.prepared_statements():
        assert connection.connection.cursor_factory is not factory
        assert connection.connection.prepare_threshold == selectors.PREPARE_AFTER
    assert connection.connection.cursor_factory is factory
    assert connection.connection.prepare_threshold is None
