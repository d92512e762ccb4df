import os
import subprocess
from datetime import datetime, time, timedelta
from functools import partial
from pathlib import Path

import pydicom
import pytest
from django.utils import timezone
from pydicom import Dataset
from pydicom.uid import generate_uid

from tests.conftest import free_port, need_tool
from tests.factories import (
    PatientFactory,
    ProcedureTypeFactory,
    ReferringPhysicianFactory,
    RoomFactory,
    make_booked_exam,
)
from worklist import scp


@pytest.fixture
def mwl_port():
    """The worklist SCP, serving the test database from its own threads."""
    port = free_port()
    server = scp.start("127.0.0.1", port, "RIS_MWL", block=False)
    yield port
    server.shutdown()


def at(hour: int, minute: int = 0, *, day=None) -> datetime:
    day = day or timezone.localdate()
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


@pytest.fixture
def department(db):
    """Two CT rooms and an MR room with exams today: names in UTF-8, Latin-1 and Japanese."""
    ct1 = RoomFactory(name="CT 1", station_ae_title="CT1", station_name="CT1", location="Level 0", location_code="L0")
    ct2 = RoomFactory(name="CT 2", station_ae_title="CT2", modality=ct1.modality)
    mr1 = RoomFactory(name="MR 1", station_ae_title="MR1", modality__code="MR", modality__name="MR")
    head = ProcedureTypeFactory(code="CTHEAD", name="CT head", modality=ct1.modality, default_duration_minutes=20)
    knee = ProcedureTypeFactory(code="MRKNEE", name="MRI knee", modality=mr1.modality, default_duration_minutes=40)
    physician = ReferringPhysicianFactory(family_name="Okafor", given_name="Chinwe")
    patients = {
        "muller": PatientFactory(mrn="P1", family_name="Müller", given_name="Jürgen", sex="M"),
        "oster": PatientFactory(mrn="P2", family_name="Øster", given_name="Åse", sex="F"),
        "yamada": PatientFactory(mrn="P3", family_name="山田", given_name="太郎", sex="M"),
        "smith": PatientFactory(mrn="P4", family_name="Smith", given_name="John", sex="M"),
    }
    # Booked yesterday for today's times, which may have passed by the time the test runs (the front desk books
    # ahead; booking into the past is refused).
    book = partial(make_booked_exam, booked_at=timezone.now() - timedelta(days=1))
    exams = {
        "muller": book(
            patient=patients["muller"], procedure_types=[head], room=ct1, start=at(9), referring_physician=physician
        ),
        "oster": book(patient=patients["oster"], procedure_types=[head], room=ct1, start=at(10)),
        "yamada": book(patient=patients["yamada"], procedure_types=[head], room=ct2, start=at(11)),
        "smith": book(patient=patients["smith"], procedure_types=[knee], room=mr1, start=at(12)),
        "tomorrow": book(
            patient=patients["smith"],
            procedure_types=[head],
            room=ct1,
            start=at(9, day=timezone.localdate() + timedelta(days=1)),
        ),
    }
    return {"rooms": {"CT1": ct1, "CT2": ct2, "MR1": mr1}, "patients": patients, "exams": exams}


def findscu(
    port: int, *keys: str, calling: str = "CT1", workdir: Path, options: tuple[str, ...] = ()
) -> tuple[list[pydicom.Dataset], str]:
    """Query with DCMTK's findscu -W; return the responses (written by -X) and what findscu printed."""
    binary = need_tool("findscu")
    args = [binary, "-v", "-W", "-aet", calling, "-aec", "RIS_MWL", "-X", "-od", str(workdir), *options]
    for key in keys:
        args += ["-k", key]
    result = subprocess.run(
        [*args, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    output = result.stdout + result.stderr
    responses = [pydicom.dcmread(path) for path in sorted(workdir.glob("rsp*.dcm"))]
    return responses, output


def names(responses) -> set[str]:
    return {str(r.PatientName) for r in responses}


CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def performed_series(instances: int = 3, *, protocol: str = "Head routine") -> Dataset:
    """A Performed Series Sequence item as a modality sends it at the end of the step (PS3.4 Table F.7.2-1)."""
    series = Dataset()
    series.PerformingPhysicianName = ""
    series.ProtocolName = protocol
    series.OperatorsName = "Tech^Terry"
    series.SeriesInstanceUID = generate_uid()
    series.SeriesDescription = protocol
    series.RetrieveAETitle = "PACS"
    references = []
    for _ in range(instances):
        reference = Dataset()
        reference.ReferencedSOPClassUID = CT_IMAGE_STORAGE
        reference.ReferencedSOPInstanceUID = generate_uid()
        references.append(reference)
    series.ReferencedImageSequence = references
    series.ReferencedNonImageCompositeSOPInstanceSequence = []
    return series


def final_n_set(status: str = "COMPLETED", *, instances: int = 3, minutes: int = 1) -> Dataset:
    """The N-SET that ends a step, with the final-state attributes (PS3.4 F.7.2.2.2): End Date and Time and the
    series made."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    end = timezone.localtime() + timedelta(minutes=minutes)
    ds.PerformedProcedureStepEndDate = f"{end:%Y%m%d}"
    ds.PerformedProcedureStepEndTime = f"{end:%H%M%S}"
    ds.PerformedSeriesSequence = [performed_series(instances)]
    return ds
