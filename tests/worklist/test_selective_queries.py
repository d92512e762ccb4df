"""A C-FIND by patient ID or accession number (a modality looking up one patient or one exam) reads its matches in
one statement, and matches exactly what the general path (the ids, then the rows) matches (issue 22)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import PatientFactory
from tests.worklist.test_mwl_safety import book, ct, query, worklist  # noqa: F401  (ct: fixture)
from worklist import selectors
from worklist.translate import WorklistQuery

STATUSES = ["SCHEDULED", "ARRIVED", "IN_PROGRESS"]


def both_paths(query: WorklistQuery, **options) -> tuple[list[int], list[int]]:
    """The matching exams' ids by the one-statement path, and by the general one."""
    one = [row["id"] for row in selectors.worklist_rows_matching(query, **options)]
    general = [row["id"] for row in selectors.worklist_rows(selectors.worklist_exams(query, **options))]
    return one, general


def test_a_query_by_accession_number_reads_its_rows_in_one_statement(ct):  # noqa: F811
    exam = book(ct)
    identifier = query(AccessionNumber=exam.accession_number, PatientName="")

    with CaptureQueriesContext(connection) as captured:
        (response,) = worklist(identifier)

    assert len(captured.captured_queries) == 1  # the rows, not the ids and then the rows (no clinical key asked)
    assert response.AccessionNumber == exam.accession_number


@pytest.mark.parametrize(
    "options",
    [
        {"statuses": STATUSES, "limit": 100},
        {"statuses": STATUSES, "limit": 2},  # the cap, in start order
        {"statuses": ["ARRIVED"], "limit": 100},  # none arrived
        {"statuses": STATUSES, "limit": 100, "station_ae_title": "CT1"},
        {"statuses": STATUSES, "limit": 100, "station_ae_title": "MR9"},  # a station with none of them
    ],
)
def test_a_query_by_patient_id_matches_what_the_ids_then_rows_match(ct, options):  # noqa: F811
    patient = PatientFactory()
    for hour in (11, 9, 10):
        book(ct, patient, hour=hour)
    book(ct, hour=12)  # someone else's

    one, general = both_paths(WorklistQuery(strings={"PatientID": patient.mrn}), **options)

    assert one == general


@pytest.mark.parametrize(
    "strings",
    [
        {"AccessionNumber": "{accession}", "Modality": "CT"},
        {"AccessionNumber": "{accession}", "Modality": "MR"},  # another modality: no match
        {"PatientID": "{mrn}", "AccessionNumber": "{accession}"},
        {"AccessionNumber": "{accession}", "ScheduledStationAETitle": "CT1"},
    ],
)
def test_exact_keys_beside_the_accession_number_match_as_in_the_general_path(ct, strings):  # noqa: F811
    exam = book(ct)
    values = {"accession": exam.accession_number, "mrn": exam.order.patient.mrn}
    query_ = WorklistQuery(strings={keyword: value.format(**values) for keyword, value in strings.items()})

    one, general = both_paths(query_, statuses=STATUSES, limit=100)

    assert one == general


def test_a_status_asked_in_the_query_is_matched_in_one_statement_too(ct):  # noqa: F811
    exam = book(ct)
    asked = WorklistQuery(strings={"AccessionNumber": exam.accession_number}, sps_statuses=("ARRIVED",))

    one, general = both_paths(asked, statuses=STATUSES, limit=100)

    assert one == general == []


@pytest.mark.parametrize(
    "query_",
    [
        WorklistQuery(strings={"PatientID": "P*"}),  # a wildcard
        WorklistQuery(strings={"Modality": "CT"}),  # not selective
        WorklistQuery(strings={"PatientID": "P1"}, patient_name="muller"),  # another kind of condition
    ],
)
def test_other_queries_read_the_ids_then_the_rows(query_):
    assert selectors._exact_shape(query_) is None
