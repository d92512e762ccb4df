"""Byte-built responses over the network: a pynetdicom SCU and DCMTK's findscu receive what the pydicom path sends,
in each transfer syntax, and pynetdicom does not encode the identifiers again; big endian still goes through
pydicom."""

import pytest
from pydicom import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.worklist.conftest import findscu
from tests.worklist.test_encode import every_key_query
from worklist import encode, scp

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.slow]


def answers(port: int, identifier: Dataset, syntax: str) -> list[dict]:
    ae = AE(ae_title="CT1")
    ae.add_requested_context(ModalityWorklistInformationFind, [syntax])
    assoc = ae.associate("127.0.0.1", port, ae_title="RIS_MWL")
    assert assoc.is_established
    try:
        found = [
            (status.Status, answer.to_json_dict())
            for status, answer in assoc.send_c_find(identifier, ModalityWorklistInformationFind)
            if status.Status in (0xFF00, 0xFF01)
        ]
    finally:
        assoc.release()
    assert found
    return found


@pytest.fixture
def pydicom_calls(monkeypatch):
    """The identifiers pynetdicom's find SCP had pydicom encode."""
    calls = []
    original = encode._pydicom_encode

    def counting(dataset, *args):
        calls.append(dataset)
        return original(dataset, *args)

    monkeypatch.setattr(encode, "_pydicom_encode", counting)
    return calls


def pydicom_path(monkeypatch) -> None:
    monkeypatch.setattr(scp, "_encoder", lambda event, plan: None)


@pytest.mark.parametrize("charset", ["ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 87"])
@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_a_pynetdicom_scu_receives_what_pydicom_would_send(
    department, mwl_port, monkeypatch, pydicom_calls, syntax, charset
):
    query = every_key_query(charset)
    written = answers(mwl_port, query, syntax)
    assert pydicom_calls == []  # pynetdicom sent the bytes as they were

    pydicom_path(monkeypatch)
    encoded_by_pydicom = answers(mwl_port, query, syntax)

    assert len(pydicom_calls) == len(written) == 5  # every worklist exam of the department
    assert written == encoded_by_pydicom


def test_big_endian_is_answered_by_pydicom(department, mwl_port, pydicom_calls):
    found = answers(mwl_port, every_key_query("ISO_IR 192"), ExplicitVRBigEndian)
    assert len(found) == len(pydicom_calls) == 5
    assert {answer["00100010"]["Value"][0]["Alphabetic"] for _status, answer in found} >= {"山田^太郎", "Müller^Jürgen"}


@pytest.mark.parametrize("options", [(), ("-xi",)], ids=["explicit", "implicit"])
def test_findscu_receives_what_pydicom_would_send(department, mwl_port, monkeypatch, tmp_path, pydicom_calls, options):
    keys = (
        "SpecificCharacterSet=ISO_IR 192",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "PatientWeight",
        "Allergies",
        "AccessionNumber",
        "StudyInstanceUID",
        "RequestedProcedureCodeSequence",
        "ReferencedStudySequence",
        "ScheduledProcedureStepSequence[0].Modality",
        "ScheduledProcedureStepSequence[0].ScheduledStationAETitle",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime",
        "ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence",
    )
    (tmp_path / "bytes").mkdir()
    (tmp_path / "pydicom").mkdir()
    written, output = findscu(mwl_port, *keys, workdir=tmp_path / "bytes", options=options)
    assert "Received Final Find Response (Success)" in output
    assert pydicom_calls == []

    pydicom_path(monkeypatch)
    encoded_by_pydicom, _ = findscu(mwl_port, *keys, workdir=tmp_path / "pydicom", options=options)

    assert len(written) == len(pydicom_calls) == 5
    assert [r.to_json_dict() for r in written] == [r.to_json_dict() for r in encoded_by_pydicom]
    assert {str(r.PatientName) for r in written} >= {"山田^太郎", "Øster^Åse"}
