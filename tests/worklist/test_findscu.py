"""DCMTK's findscu -W queries the running worklist SCP, as a modality would."""

import pytest
from django.utils import timezone

from tests.worklist.conftest import findscu, names

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]

RETURN_KEYS = ("SpecificCharacterSet=ISO_IR 192", "PatientName", "PatientID", "AccessionNumber")


def today() -> str:
    return f"{timezone.localdate():%Y%m%d}"


def test_modality_and_date_list_todays_ct_exams(department, mwl_port, tmp_path):
    responses, output = findscu(
        mwl_port,
        "ScheduledProcedureStepSequence[0].Modality=CT",
        f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={today()}",
        *RETURN_KEYS,
        workdir=tmp_path,
    )
    assert "Received Final Find Response (Success)" in output
    assert names(responses) == {"Müller^Jürgen", "Øster^Åse", "山田^太郎"}
    assert all(r.SpecificCharacterSet == "ISO_IR 192" for r in responses)


def test_station_ae_title_limits_to_that_room(department, mwl_port, tmp_path):
    responses, _ = findscu(
        mwl_port,
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=CT1",
        f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={today()}",
        *RETURN_KEYS,
        workdir=tmp_path,
    )
    assert names(responses) == {"Müller^Jürgen", "Øster^Åse"}


def test_patient_name_wildcard_is_case_and_accent_insensitive(department, mwl_port, tmp_path):
    responses, _ = findscu(mwl_port, "PatientName=MULLER*", "SpecificCharacterSet=ISO_IR 192", workdir=tmp_path)
    assert names(responses) == {"Müller^Jürgen"}


def test_accession_number_finds_one_exam_and_returns_only_the_keys_asked(department, mwl_port, tmp_path):
    exam = department["exams"]["oster"]
    responses, _ = findscu(mwl_port, f"AccessionNumber={exam.accession_number}", "PatientID", workdir=tmp_path)
    assert [r.PatientID for r in responses] == ["P2"]
    # and the two every response carries: its character set and the time zone of its dates and times
    assert {element.keyword for element in responses[0]} == {
        "SpecificCharacterSet",
        "TimezoneOffsetFromUTC",
        "AccessionNumber",
        "PatientID",
    }


def test_date_range_reaches_tomorrow(department, mwl_port, tmp_path):
    tomorrow = f"{timezone.localdate() + timezone.timedelta(days=1):%Y%m%d}"
    responses, _ = findscu(
        mwl_port,
        f"ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate={today()}-{tomorrow}",
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=CT1",
        "AccessionNumber",
        workdir=tmp_path,
    )
    assert len(responses) == 3  # Müller and Øster today, Smith tomorrow


def test_empty_sps_sequence_returns_the_whole_item(department, mwl_port, tmp_path):
    exam = department["exams"]["muller"]
    responses, _ = findscu(
        mwl_port, f"AccessionNumber={exam.accession_number}", "ScheduledProcedureStepSequence", workdir=tmp_path
    )
    item = responses[0].ScheduledProcedureStepSequence[0]
    assert item.ScheduledStationAETitle == "CT1"
    assert item.Modality == "CT"
    assert item.ScheduledProcedureStepID == exam.scheduled_procedure_step_id
    assert item.ScheduledProtocolCodeSequence[0].CodeValue == "CTHEAD"


def test_two_sps_items_do_not_fit_the_sop_class(department, mwl_port, tmp_path):
    _, output = findscu(
        mwl_port,
        "ScheduledProcedureStepSequence[0].Modality=CT",
        "ScheduledProcedureStepSequence[1].Modality=MR",
        "PatientName",
        workdir=tmp_path,
    )
    assert "Received Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in output  # A900
