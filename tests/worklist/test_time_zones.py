"""Timezone Offset From UTC (0008,0201): the worklist's dates and times across a daylight-saving change, pure.

Europe/Berlin goes from +0100 to +0200 in the night of Sunday 29 March 2026 (02:00 becomes 03:00).
"""

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydicom import Dataset

from ris.text import fold
from tests.worklist.test_mwl_safety import ROW
from worklist.translate import (
    InvalidQuery,
    ResponsePlan,
    offset_zone,
    parse_query,
    parse_step_report,
    utc_offset,
    worklist_item,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def query(*, offset: str | None = None, start_date: str = "", start_time: str = "", **root) -> Dataset:
    ds = Dataset()
    if offset is not None:
        ds.TimezoneOffsetFromUTC = offset
    for keyword, value in root.items():
        setattr(ds, keyword, value)
    item = Dataset()
    item.ScheduledProcedureStepStartDate = start_date
    item.ScheduledProcedureStepStartTime = start_time
    ds.ScheduledProcedureStepSequence = [item]
    return ds


def parse(ds: Dataset, tz=BERLIN):
    return parse_query(ds, tz=tz, fold=fold)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 3, 28, 9, tzinfo=BERLIN), "+0100"),
        (datetime(2026, 3, 30, 9, tzinfo=BERLIN), "+0200"),
        (datetime(2026, 3, 7, 9, tzinfo=NEW_YORK), "-0500"),
        (datetime(2026, 3, 9, 9, tzinfo=NEW_YORK), "-0400"),
        (datetime(2026, 3, 9, 9, tzinfo=UTC), "+0000"),
        (datetime(2026, 3, 9, 9, tzinfo=ZoneInfo("Asia/Kolkata")), "+0530"),
        (datetime(2026, 3, 9, 9, tzinfo=ZoneInfo("America/St_Johns")), "-0230"),
        (None, ""),
    ],
)
def test_the_offset_of_a_moment_is_written_as_ps3_3_says(moment, expected):
    assert utc_offset(moment) == expected


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("+0000", 0), ("-0000", 0), ("+0100", 60), ("-0500", -300), ("+0530", 330), ("+1400", 840), ("-1200", -720)],
)
def test_an_offset_names_a_fixed_zone(text, minutes):
    assert offset_zone(text).utcoffset(None) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["0100", "+1", "+01", "UTC", "+2500", "+0160", "-1300", "+1401", "+01:0"])
def test_a_malformed_offset_does_not_fit_the_sop_class(text):
    with pytest.raises(InvalidQuery):
        offset_zone(text)
    with pytest.raises(InvalidQuery):
        parse(query(offset=text, start_date="20260328"))


def test_without_an_offset_a_date_is_the_departments_whole_day_whatever_daylight_saving():
    saturday = parse(query(start_date="20260328")).start
    assert saturday.start.astimezone(UTC) == datetime(2026, 3, 27, 23, tzinfo=UTC)  # midnight CET
    assert saturday.end.astimezone(UTC) == datetime(2026, 3, 28, 22, 59, 59, 999_999, tzinfo=UTC)
    monday = parse(query(start_date="20260330")).start
    assert monday.start.astimezone(UTC) == datetime(2026, 3, 29, 22, tzinfo=UTC)  # midnight CEST
    assert parse(query(start_date="20260330")).time_zone is None


def test_a_range_across_the_daylight_saving_night_ends_in_summer_time():
    period = parse(query(start_date="20260328-20260329", start_time="2200-0600")).start
    assert period.start.astimezone(UTC) == datetime(2026, 3, 28, 21, tzinfo=UTC)  # 22:00 +0100
    assert period.end.astimezone(UTC) == datetime(2026, 3, 29, 4, 0, 59, 999_999, tzinfo=UTC)  # 06:00 +0200


def test_with_an_offset_the_dates_and_times_and_midnight_are_in_that_zone():
    utc_day = parse(query(offset="+0000", start_date="20260330")).start
    assert utc_day.start == datetime(2026, 3, 30, tzinfo=UTC)
    assert utc_day.end == datetime(2026, 3, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    new_york = parse(query(offset="-0400", start_date="20260330", start_time="0300-0400")).start
    assert new_york.start.astimezone(UTC) == datetime(2026, 3, 30, 7, tzinfo=UTC)  # 09:00 in Berlin (+0200)


def test_a_time_without_a_date_keeps_its_zone_for_the_selector():
    parsed = parse(query(offset="+0000", start_time="0700-0759"))
    assert parsed.start_time_only == (time(7), time(7, 59, 59, 999_999))
    assert parsed.time_zone.utcoffset(None) == timedelta(0)


def test_a_birth_date_is_a_day_not_a_moment_the_offset_leaves_it_alone():
    assert parse(query(offset="-1000", PatientBirthDate="19700102")).birth_dates == (date(1970, 1, 2),) * 2


def item_at(local_start: datetime) -> dict:
    return worklist_item(ROW, local_start=local_start, coding_scheme="99RIS")


def test_every_response_carries_the_offset_of_its_items_start_even_when_not_asked():
    plan = ResponsePlan(query(start_date="20260328-20260330", AccessionNumber=""))
    saturday, _ = plan.build(item_at(datetime(2026, 3, 28, 9, tzinfo=BERLIN)))
    monday, _ = plan.build(item_at(datetime(2026, 3, 30, 9, tzinfo=BERLIN)))
    assert (saturday.TimezoneOffsetFromUTC, monday.TimezoneOffsetFromUTC) == ("+0100", "+0200")
    assert saturday.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime == "090000"
    assert monday.ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime == "090000"
    assert saturday["TimezoneOffsetFromUTC"].VR == "SH"


def test_an_offset_asked_for_is_answered_once_with_the_items_offset_and_no_warning():
    plan = ResponsePlan(query(offset="+0000", start_date="20260330", AccessionNumber=""))
    answer, unsupported = plan.build(item_at(datetime(2026, 3, 30, 9, tzinfo=BERLIN)))
    assert not unsupported  # the key is known now: no FF01
    assert answer.TimezoneOffsetFromUTC == "+0200"  # the response's times are the department's, and say so


def mpps(**attributes) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "IN PROGRESS"
    ds.PerformedProcedureStepStartDate = "20260330"
    ds.PerformedProcedureStepStartTime = "070000"
    ds.PerformedProcedureStepEndDate = "20260330"
    ds.PerformedProcedureStepEndTime = "073000"
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def test_an_mpps_without_an_offset_is_in_the_departments_zone():
    report = parse_step_report(mpps(), tz=BERLIN)
    assert report.started_at.astimezone(UTC) == datetime(2026, 3, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "started_utc"), [("+0000", datetime(2026, 3, 30, 7, tzinfo=UTC)), ("-0400", datetime(2026, 3, 30, 11))]
)
def test_an_mpps_with_an_offset_is_read_in_that_zone(offset, started_utc):
    report = parse_step_report(mpps(TimezoneOffsetFromUTC=offset), tz=BERLIN)
    assert report.started_at.astimezone(UTC) == started_utc.replace(tzinfo=UTC)
    assert report.ended_at - report.started_at == timedelta(minutes=30)


def test_an_mpps_with_a_malformed_offset_is_refused_like_a_malformed_time():
    with pytest.raises(InvalidQuery):
        parse_step_report(mpps(TimezoneOffsetFromUTC="CET"), tz=BERLIN)


def test_the_fixed_zone_of_an_offset_is_a_datetime_timezone():
    assert isinstance(offset_zone("+0200"), timezone)
