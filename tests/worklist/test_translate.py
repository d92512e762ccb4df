"""C-FIND identifier -> matching keys, and exam -> response: pure, fast, exhaustive."""

import re
from datetime import UTC, date, datetime, time

import pytest
from pydicom import Dataset

from ris.text import fold
from worklist.translate import (
    InvalidQuery,
    Period,
    build_response,
    combined_period,
    date_range,
    parse_query,
    response_charset,
    time_range,
    wildcard_regex,
)


def identifier(sps: dict | None = None, **root) -> Dataset:
    ds = Dataset()
    for keyword, value in root.items():
        setattr(ds, keyword, value)
    if sps is not None:
        item = Dataset()
        for keyword, value in sps.items():
            setattr(item, keyword, value)
        ds.ScheduledProcedureStepSequence = [item]
    return ds


def parse(ds: Dataset):
    return parse_query(ds, tz=UTC, fold=fold)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20261128", (date(2026, 11, 28), date(2026, 11, 28))),
        ("20261128-20261130", (date(2026, 11, 28), date(2026, 11, 30))),
        ("-20261130", (None, date(2026, 11, 30))),
        ("20261128-", (date(2026, 11, 28), None)),
        ("2026.11.28", (date(2026, 11, 28), date(2026, 11, 28))),
    ],
)
def test_date_ranges(text, expected):
    assert date_range(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", (time(10), time(10, 59, 59, 999_999))),
        ("0930-1100", (time(9, 30), time(11, 0, 59, 999_999))),
        ("-120000", (None, time(12, 0, 0, 999_999))),
        ("08:15:00", (time(8, 15), time(8, 15, 0, 999_999))),
    ],
)
def test_time_ranges_extend_an_upper_bound_to_its_precision(text, expected):
    assert time_range(text) == expected


@pytest.mark.parametrize("text", ["2026-11-28", "20261345", "2026112", "1-2-3", "tomorrow"])
def test_malformed_dates_do_not_fit_the_sop_class(text):
    with pytest.raises(InvalidQuery):
        date_range(text)


def test_a_date_range_with_a_time_range_is_one_continuous_period():
    period = combined_period("20261128-20261129", "2200-0600", UTC)
    assert period == Period(
        datetime(2026, 11, 28, 22, tzinfo=UTC), datetime(2026, 11, 29, 6, 0, 59, 999_999, tzinfo=UTC)
    )


def test_a_date_alone_covers_the_whole_day():
    period = combined_period("20261128", "", UTC)
    assert period == Period(datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 28, 23, 59, 59, 999_999, tzinfo=UTC))


@pytest.mark.parametrize(
    ("value", "matches", "misses"), [("MÜ*", "MÜLLER", "XMÜ"), ("A?C", "ABC", "ABBC"), ("1.2", "1.2", "102")]
)
def test_wildcards_become_anchored_regular_expressions(value, matches, misses):
    assert re.match(wildcard_regex(value), matches)
    assert not re.match(wildcard_regex(value), misses)


def test_universal_keys_are_left_out_and_others_kept():
    query = parse(
        identifier(
            {"Modality": "CT", "ScheduledStationAETitle": ""},
            PatientID="*",
            AccessionNumber="A1",
            PatientName="Müller^J*",
        )
    )
    assert query.strings == {"Modality": "CT", "AccessionNumber": "A1"}
    assert query.patient_name == "muller j*"


def test_list_of_uids_and_sps_status():
    query = parse(identifier({"ScheduledProcedureStepStatus": "ARRIVED"}, StudyInstanceUID=["1.2.3", "1.2.4"]))
    assert query.study_instance_uids == ("1.2.3", "1.2.4")
    assert query.sps_statuses == ("ARRIVED",)


def test_an_empty_sps_sequence_asks_for_the_whole_item():
    ds = identifier(PatientID="")
    ds.ScheduledProcedureStepSequence = []
    assert parse(ds).whole_sps_item is True


def test_two_sps_items_or_a_query_level_do_not_fit_the_sop_class():
    ds = identifier({"Modality": "CT"})
    ds.ScheduledProcedureStepSequence.append(Dataset())
    with pytest.raises(InvalidQuery):
        parse(ds)
    with pytest.raises(InvalidQuery):
        parse(identifier(QueryRetrieveLevel="STUDY"))


VALUES = {
    "PatientName": "Øster^Åse",
    "PatientID": "P2",
    "AccessionNumber": "A1",
    "ScheduledProcedureStepSequence": [
        {"Modality": "CT", "ScheduledStationAETitle": "CT1", "ScheduledProcedureStepID": "S1"}
    ],
}


def test_response_holds_exactly_the_requested_keys():
    query = identifier({"Modality": "", "ScheduledStationAETitle": ""}, PatientName="", AccessionNumber="")
    answer, unsupported = build_response(query, VALUES)
    assert not unsupported
    assert {e.keyword for e in answer} == {
        "PatientName",
        "AccessionNumber",
        "ScheduledProcedureStepSequence",
        "SpecificCharacterSet",
    }
    assert {e.keyword for e in answer.ScheduledProcedureStepSequence[0]} == {"Modality", "ScheduledStationAETitle"}


def test_an_unknown_requested_key_comes_back_empty_and_flags_the_warning():
    answer, unsupported = build_response(identifier(PatientID="", EthnicGroup=""), VALUES)
    assert unsupported
    assert answer.EthnicGroup in (None, "")


@pytest.mark.parametrize(
    ("asked", "name", "charset"),
    [
        ("ISO_IR 100", "Øster^Åse", "ISO_IR 100"),
        ("ISO_IR 100", "山田^太郎", "ISO_IR 192"),
        ("", "Smith^John", "ISO_IR 192"),
        ("ISO 2022 IR 87", "山田^太郎", "ISO_IR 192"),
    ],
)
def test_response_character_set(asked, name, charset):
    query = identifier(SpecificCharacterSet=asked) if asked else identifier()
    assert response_charset(query, {"PatientName": name}) == charset


def test_the_default_repertoire_and_unknown_sets_are_answered_in_utf8():
    assert response_charset(identifier(SpecificCharacterSet="ISO_IR 6"), {"PatientName": "Øster^Åse"}) == "ISO_IR 192"
    assert response_charset(identifier(SpecificCharacterSet="GB18030"), {"PatientName": "Smith"}) == "ISO_IR 192"


def test_an_empty_sps_item_asks_for_the_whole_item_too():
    ds = identifier(PatientID="")
    ds.ScheduledProcedureStepSequence = [Dataset()]
    assert parse(ds).whole_sps_item is True
    answer, _ = build_response(ds, VALUES)
    assert answer.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == "CT1"
