"""The pure side of UPS (worklist.ups, worklist.ups_search): workitem UIDs, DT ranges with and without offsets,
attribute IDs and the search parameters."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ris.text import fold
from worklist.translate import InvalidQuery
from worklist.ups import datetime_range, valid_uid, workitem_uid
from worklist.ups_search import InvalidSearch, attribute_path, parse_search

PARIS = ZoneInfo("Europe/Paris")


def test_a_workitem_uid_is_a_valid_uid_the_same_for_the_same_exam_and_another_for_another():
    first = workitem_uid("1.2.826.0.1.3680043.8.498.1", "SPS1")
    assert first == workitem_uid("1.2.826.0.1.3680043.8.498.1", "SPS1")
    assert first != workitem_uid("1.2.826.0.1.3680043.8.498.1", "SPS2")
    assert first.startswith("2.25.")
    assert valid_uid(first)
    assert len(first) <= 64


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("20261206", datetime(2026, 12, 6, tzinfo=PARIS), datetime(2026, 12, 6, 23, 59, 59, 999_999, tzinfo=PARIS)),
        (
            "2026120610",
            datetime(2026, 12, 6, 10, tzinfo=PARIS),
            datetime(2026, 12, 6, 10, 59, 59, 999_999, tzinfo=PARIS),
        ),
        ("202602", datetime(2026, 2, 1, tzinfo=PARIS), datetime(2026, 2, 28, 23, 59, 59, 999_999, tzinfo=PARIS)),
        ("20261206-", datetime(2026, 12, 6, tzinfo=PARIS), None),
        ("-20261206", None, datetime(2026, 12, 6, 23, 59, 59, 999_999, tzinfo=PARIS)),
    ],
)
def test_a_dt_range_is_local_time_and_an_upper_bound_extends_to_its_precision(text, low, high):
    period = datetime_range(text, PARIS)
    assert (period.start, period.end) == (low, high)


def test_a_dt_with_an_offset_is_that_moment_whatever_the_department_zone():
    minus_five = timezone(-timedelta(hours=5))
    period = datetime_range("20261206080000-0500-20261206120000-0500", PARIS)
    assert period.start == datetime(2026, 12, 6, 8, tzinfo=minus_five)
    assert period.end.astimezone(UTC) == datetime(2026, 12, 6, 17, 0, 0, 999_999, tzinfo=UTC)
    assert datetime_range("20261206093000+0100", PARIS).start == datetime(2026, 12, 6, 9, 30, tzinfo=PARIS)


@pytest.mark.parametrize("text", ["2026-13-45", "20261345", "-", "20261206-20261207-20261208", "today"])
def test_a_malformed_dt_is_refused(text):
    with pytest.raises(InvalidQuery):
        datetime_range(text, PARIS)


def test_attribute_ids_are_keywords_or_tags_joined_by_dots():
    assert attribute_path("0040A370.00080050") == "ReferencedRequestSequence.AccessionNumber"
    assert attribute_path("PatientID") == "PatientID"
    with pytest.raises(InvalidSearch):
        attribute_path("PatientIdentifier")


def test_search_parameters_become_the_worklist_query():
    search = parse_search(
        [
            ("PatientName", "Müller^J*"),
            ("ScheduledStationClassCodeSequence.CodeValue", "CT"),
            ("ProcedureStepState", "SCHEDULED,IN PROGRESS"),
            ("limit", "5"),
            ("offset", "10"),
            ("includefield", "Allergies,00400400"),
        ],
        tz=PARIS,
        fold=fold,
        default_statuses=["SCHEDULED"],
        max_limit=50,
    )
    assert search.query.patient_name == "muller j*"
    assert search.query.strings == {"Modality": "CT"}
    assert search.query.sps_statuses == ("SCHEDULED", "ARRIVED", "IN_PROGRESS")
    assert (search.limit, search.offset) == (5, 10)
    assert search.include == {"Allergies", "CommentsOnTheScheduledProcedureStep"}


def test_without_a_state_the_search_sees_the_mwl_statuses_and_those_in_progress():
    search = parse_search([], tz=PARIS, fold=fold, default_statuses=["SCHEDULED", "ARRIVED"], max_limit=50)
    assert search.query.sps_statuses == ("SCHEDULED", "ARRIVED", "IN_PROGRESS")
    with pytest.raises(InvalidSearch):
        parse_search([("limit", "51")], tz=PARIS, fold=fold, default_statuses=[], max_limit=50)
