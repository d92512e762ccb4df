"""What a C-FIND costs whatever its matches (issue 22): the statements it runs, and no connection health check
between the C-FINDs of an association."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory
from tests.worklist.test_mwl_safety import book, ct, every_safety_key, query, worklist  # noqa: F401  (ct: fixture)


def test_a_one_match_cfind_runs_one_statement_per_kind_of_fact(ct):  # noqa: F811
    patient = PatientFactory(sex="F", birth_date=date(1990, 1, 1))  # pregnancy is asked of her: its query runs too
    exam = book(ct, patient)
    identifier = every_safety_key()
    identifier.AccessionNumber = exam.accession_number

    with CaptureQueriesContext(connection) as captured:
        (response,) = worklist(identifier)

    # The matching exams' rows in one statement (a query by accession number; with their patients' sex and birth
    # date: no query reads the patients again); allergy status, allergies, alerts, implants, observations, pregnancy;
    # the exam's protocol (none chosen: the catalog's protocols are not read) and MR screening.
    assert len(captured.captured_queries) == 9
    assert response.PregnancyStatus == 4  # unknown: read from the exam query's sex and birth date, as before


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite's connections are not kept between requests (CONN_MAX_AGE 0): nothing to check",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_cfinds_of_an_association_skip_the_health_check_but_not_the_error_check(ct, monkeypatch):  # noqa: F811
    monkeypatch.undo()  # ct's stand-in for close_old_connections: this test is about the real one
    exam = book(ct)
    checks = []
    usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or usable())
    identifier = query(AccessionNumber=exam.accession_number, PatientName="")

    for _ in range(3):
        assert len(worklist(identifier)) == 1
    assert checks == []  # no `SELECT 1` before each C-FIND: the connection is this association's, in use

    connection.errors_occurred = True  # as a failed statement leaves it
    assert len(worklist(identifier)) == 1
    assert checks == [1]  # a connection an error may have broken is still checked (and closed if it is)
