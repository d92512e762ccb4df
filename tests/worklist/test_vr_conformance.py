"""Every value the worklist and MPPS SCP send fits its VR (PS3.5 6.2): its length, its character repertoire, its
multiplicity. The worklist of the demo department, and an exam whose every source field is as long as the RIS
allows, are asked for every return key through the SCP's C-FIND handler; each returned attribute, items included,
is checked. So are the status datasets of MPPS N-CREATE and N-SET, and every refusal message worklist.services
can give."""

import ast
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from pydicom import DataElement, Dataset, config
from pydicom.datadict import dictionary_VM
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import validate_value

from ris.models import Patient, ProcedureType, Room
from scheduling import demo as scheduling_demo
from scheduling.models import Exam
from scheduling.selectors import free_slots_by_room
from scheduling.services import exam_book
from tests.factories import (
    TEST_ACTOR,
    PatientFactory,
    ProcedureTypeFactory,
    ReferringPhysicianFactory,
    RoomFactory,
    make_booked_exam,
    make_order,
)
from tests.worklist.conftest import at
from worklist import scp, services
from worklist.selectors import WORKLIST_ROW
from worklist.translate import lo, pn, worklist_item

WORKLIST_STATUSES = ["SCHEDULED", "ARRIVED", "IN_PROGRESS"]

# Characters a VR's value may not hold beyond what pydicom checks (PS3.5 6.2): the backslash separates values of
# the string VRs; control characters other than ESC (and CR, LF, FF in texts) are not in any repertoire.
FORBIDDEN = {
    "SH": re.compile(r"[\x00-\x1a\x1c-\x1f\x7f\\]"),
    "LO": re.compile(r"[\x00-\x1a\x1c-\x1f\x7f\\]"),
    "PN": re.compile(r"[\x00-\x1a\x1c-\x1f\x7f\\]"),
    "ST": re.compile(r"[\x00-\x09\x0b\x0e-\x1a\x1c-\x1f\x7f]"),
    "LT": re.compile(r"[\x00-\x09\x0b\x0e-\x1a\x1c-\x1f\x7f]"),
}
BINARY_NUMBERS = ("US", "UL", "SS", "SL", "FL", "FD")
MAX_PN_COMPONENTS = 5  # family^given^middle^prefix^suffix in each component group


def value_problems(vr: str, keyword: str, tag, value) -> list[str]:
    """What is wrong with one element's value(s) for its VR; [] when it fits."""
    if value is None or value == "":
        return []
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    problems = []
    vm = dictionary_VM(tag)
    if vm == "1" and len(values) > 1:
        problems.append(f"{keyword}: {len(values)} values for VM 1")
    for one in values:
        text = one if vr in BINARY_NUMBERS else str(one)
        try:  # pydicom's checks: lengths (SH 16, LO 64, PN 64 per group, ...), CS/AE/UI/DA/TM/DS formats
            validate_value(vr, text, config.RAISE)
        except ValueError as error:
            problems.append(f"{keyword} ({vr}) {text!r}: {error}")
        if vr in FORBIDDEN and FORBIDDEN[vr].search(text):
            problems.append(f"{keyword} ({vr}) {text!r}: a character outside the repertoire")
        if vr == "PN" and any(group.count("^") >= MAX_PN_COMPONENTS for group in text.split("=")):
            problems.append(f"{keyword} (PN) {text!r}: more than {MAX_PN_COMPONENTS} components")
    return problems


def dataset_problems(dataset: Dataset, path: str = "") -> list[str]:
    """Every attribute of `dataset`, items included, checked against its VR."""
    problems = []
    for element in dataset:
        where = f"{path}{element.keyword or element.tag}"
        if element.VR == "SQ":
            for number, item in enumerate(element.value or ()):
                problems += dataset_problems(item, f"{where}[{number}].")
            continue
        problems += value_problems(element.VR, where, element.tag, element.value)
    return problems


def encodes(dataset: Dataset) -> None:
    """The dataset is written as the network would carry it (explicit VR little endian: 16-bit lengths)."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, dataset)


# --- the worklist ------------------------------------------------------------------------------------------------


def every_return_key() -> Dataset:
    """A query asking for every attribute the SCP returns: each key universal (zero length), every sequence's
    item asked whole, the Scheduled Procedure Step item key by key."""
    shape = worklist_item(
        {name: "" for name in WORKLIST_ROW}, local_start=None, coding_scheme="99RIS", protocol_scheme="99RISPROT"
    )
    query = Dataset()
    for keyword, value in shape.items():
        if keyword == "ScheduledProcedureStepSequence":
            item = Dataset()
            for sps_keyword, sps_value in value[0].items():
                setattr(item, sps_keyword, [] if isinstance(sps_value, list) else None)
            setattr(query, keyword, [item])
        else:
            setattr(query, keyword, [] if isinstance(value, list) else None)
    return query


class FindEvent:
    """The parts of a pynetdicom C-FIND event the handler reads."""

    assoc = type("Assoc", (), {"requestor": type("Requestor", (), {"ae_title": "CT1"})()})()
    is_cancelled = False

    def __init__(self, identifier: Dataset):
        self.identifier = identifier


def every_procedure_on_the_worklist() -> None:
    """Procedures of the catalog that no worklist exam of the demo has are ordered for a demo patient they fit and
    booked on the first free slot of the coming days: the walk sees every catalog entry's code and name."""
    worklist = Exam.objects.filter(status__in=WORKLIST_STATUSES, room__isnull=False, scheduled_start__isnull=False)
    shown = set(worklist.values_list("procedure_type_id", flat=True))
    patients = list(Patient.objects.filter(mrn__startswith="DEMO").order_by("mrn"))
    today = timezone.localdate()
    for procedure in ProcedureType.objects.exclude(pk__in=shown).filter(modality__rooms__isnull=False).distinct():
        patient = next(
            p for p in patients if not procedure.implausibility(sex=p.sex, birth_date=p.birth_date, on=today)
        )
        exam = make_order(patient=patient, procedure_types=[procedure], reason="Demo walk").exams.get()
        slots = (
            (room, starts[0])
            for offset in range(1, 8)
            for room, starts in free_slots_by_room(exam, today + timedelta(days=offset))
            if starts
        )
        room, start = next(slots)
        exam_book(exam=exam, room=room, start=start, acting_user=TEST_ACTOR)


def an_exam_as_long_as_the_ris_allows() -> Exam:
    """An exam whose every source field is as long as its column (or form) allows, with the characters people and
    senders type: what the worklist must map rather than send over-long."""
    room = RoomFactory(
        name="R" * 64,
        station_ae_title="A" * 16,
        station_name="S" * 16,
        location="Radiology, building C, level -2, room 2.17 (behind the MR suite)"[:64],
        location_code="RAD C L-2 R2.17",
        modality__code="CT",
        modality__name="CT",
    )
    procedure = ProcedureTypeFactory(
        code="P" * 16,
        name=("CT chest abdomen and pelvis with contrast, arterial and venous phase " * 3)[:128],
        modality=room.modality,
    )
    patient = PatientFactory(
        mrn="M" * 64,
        mrn_issuer="I" * 64,
        family_name="Family" * 10 + "Name",
        given_name="Given" * 12 + "Name",
        middle_name="Middle" * 10 + "Name",
        name_prefix="P" * 32,
        name_suffix="S" * 32,
    )
    physician = ReferringPhysicianFactory(
        family_name="Referrer" * 8, given_name="Given Names Of The Physician " * 2, middle_name="M" * 64
    )
    return make_booked_exam(
        patient=patient,
        procedure_types=[procedure],
        room=room,
        start=at(11, day=timezone.localdate() + timedelta(days=1)),
        referring_physician=physician,
        reason="Pain after a fall from a ladder\\left hip, cannot bear weight.\r\n" * 20,
        placer_order_number="PLACER-" + "9" * 57,
        admission_id="V" * 64,
    )


@pytest.mark.django_db
@pytest.mark.slow
def test_every_attribute_of_every_demo_worklist_item_fits_its_vr(settings, monkeypatch):
    settings.DEBUG = True
    # The demo department, its schedule from today over the next three days rather than 20 days (each day is like
    # the others): whatever the day and hour, a weekday still to come, when every room is open, is among them.
    monkeypatch.setattr(scheduling_demo, "DAYS_BACK", 0)
    monkeypatch.setattr(scheduling_demo, "DAYS_AHEAD", 3)
    call_command("seed_demo", stdout=io.StringIO())
    settings.RIS_MWL_STATUSES = WORKLIST_STATUSES
    settings.RIS_MWL_MAX_MATCHES = 100_000
    settings.RIS_MWL_STATION_SCOPED = False
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)
    every_procedure_on_the_worklist()
    longest = an_exam_as_long_as_the_ris_allows()
    expected = Exam.objects.filter(status__in=WORKLIST_STATUSES, room__isnull=False, scheduled_start__isnull=False)

    answers = [answer for status, answer in scp.handle_find(FindEvent(every_return_key())) if answer is not None]

    assert len(answers) == expected.count() > 50
    seen_rooms = {a.ScheduledProcedureStepSequence[0].ScheduledStationAETitle for a in answers}
    assert set(Room.objects.values_list("station_ae_title", flat=True)) <= seen_rooms, "every room is walked"
    seen_codes = {a.RequestedProcedureCodeSequence[0].CodeValue for a in answers}
    with_rooms = ProcedureType.objects.filter(modality__rooms__isnull=False)
    assert set(with_rooms.values_list("code", flat=True)) <= seen_codes, "every procedure of the catalog is walked"
    problems = []
    for answer in answers:
        problems += dataset_problems(answer)
        encodes(answer)
    assert problems == []
    (long_answer,) = (a for a in answers if a.AccessionNumber == longest.accession_number)
    sps = long_answer.ScheduledProcedureStepSequence[0]
    assert sps.ScheduledProcedureStepLocation == "RAD C L-2 R2.17"
    assert str(long_answer.PatientName) == "FamilyFamilyFamilyFamilyFamilyFamilyFamilyFamilyFamilyFamilyName"
    assert long_answer.ReasonForTheRequestedProcedure == (
        "Pain after a fall from a ladder/left hip, cannot bear weight..."
    )


@pytest.mark.django_db
def test_the_demo_rooms_send_their_location_code_not_their_location_in_words(department, monkeypatch):
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)
    query = Dataset()
    query.AccessionNumber = department["exams"]["muller"].accession_number
    item = Dataset()
    item.ScheduledProcedureStepLocation = "L0"
    query.ScheduledProcedureStepSequence = [item]

    (answer,) = [answer for _status, answer in scp.handle_find(FindEvent(query)) if answer is not None]

    assert answer.ScheduledProcedureStepSequence[0].ScheduledProcedureStepLocation == "L0"


# --- MPPS ----------------------------------------------------------------------------------------------------------

LONGEST_UID = "1.2.826.0.1.3680043.8.498." + "1" * 38  # 64 characters, the most a UI holds


class MppsEvent:
    """The parts of a pynetdicom N-CREATE / N-SET event the handlers read."""

    assoc = type("Assoc", (), {"requestor": type("Requestor", (), {"ae_title": "CT1"})()})()

    def __init__(self, dataset: Dataset, uid: str):
        self.attribute_list = self.modification_list = dataset
        self.request = type("Request", (), {"AffectedSOPInstanceUID": uid, "RequestedSOPInstanceUID": uid})()


def in_progress(exam: Exam, *, status: str = "IN PROGRESS", start_date: str | None = None) -> Dataset:
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedStationAETitle = "CT1"
    start = start_date or timezone.localdate().strftime("%Y%m%d")
    ds.add(DataElement("PerformedProcedureStepStartDate", "DA", start, validation_mode=config.IGNORE))
    ds.PerformedProcedureStepStartTime = "0905"
    ds.PatientID = exam.order.patient.mrn
    item = Dataset()
    item.AccessionNumber = exam.accession_number
    item.ScheduledProcedureStepID = exam.scheduled_procedure_step_id
    item.StudyInstanceUID = exam.study_instance_uid
    ds.ScheduledStepAttributesSequence = [item]
    return ds


def step_set(status: str) -> Dataset:
    """An N-SET with what PS3.4 F.7.2.2 asks of a COMPLETED step."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = status
    ds.PerformedProcedureStepEndDate = timezone.localdate().strftime("%Y%m%d")
    ds.PerformedProcedureStepEndTime = "0925"
    ds.ProcedureCodeSequence = []
    series = Dataset()
    series.SeriesInstanceUID = LONGEST_UID[:-1] + "2"
    series.RetrieveAETitle = "PACS"
    series.ProtocolName = "Head routine"
    series.SeriesDescription = "Axial"
    series.PerformingPhysicianName = ""
    series.OperatorsName = ""
    image = Dataset()
    image.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    image.ReferencedSOPInstanceUID = LONGEST_UID[:-1] + "6"
    series.ReferencedImageSequence = [image]
    series.ReferencedNonImageCompositeSOPInstanceSequence = []
    ds.PerformedSeriesSequence = [series]
    return ds


def word_cut(comment: str, message: str) -> bool:
    """`comment` is `message`, or its start up to a whole word followed by "..."."""
    if comment == message:
        return True
    stem = comment.removesuffix("...")
    rest = message[len(stem) :].lstrip(",.;:-/")
    return comment.endswith("...") and message.startswith(stem) and rest.lstrip(".")[:1] in ("", " ")


@pytest.mark.django_db
def test_mpps_responses_and_refusals_fit_their_vrs(department, monkeypatch):
    monkeypatch.setattr(scp, "close_old_connections", lambda: None)
    exam = department["exams"]["oster"]
    other = department["exams"]["yamada"]
    create, update = scp.handle_mpps_create, scp.handle_mpps_set

    responses = [
        create(MppsEvent(in_progress(exam), LONGEST_UID)),  # accepted
        create(MppsEvent(in_progress(exam), LONGEST_UID)),  # duplicate
        create(MppsEvent(in_progress(other, status="COMPLETED"), LONGEST_UID[:-1] + "3")),  # not IN PROGRESS
        create(MppsEvent(in_progress(other, start_date="2026-13-45"), LONGEST_UID[:-1] + "4")),  # a bad date
        update(MppsEvent(step_set("FINISHED"), LONGEST_UID)),  # not a status
        update(MppsEvent(step_set("COMPLETED"), LONGEST_UID)),  # accepted
        update(MppsEvent(step_set("COMPLETED"), LONGEST_UID)),  # closed
        update(MppsEvent(step_set("COMPLETED"), LONGEST_UID[:-1] + "5")),  # no such step
    ]

    statuses = [status.Status for status, _attributes in responses]
    assert statuses == [0x0000, 0x0111, 0x0106, 0x0106, 0x0106, 0x0000, 0x0110, 0x0112]
    problems = []
    for status, attributes in responses:
        problems += dataset_problems(status)
        encodes(status)
        if attributes is not None:
            problems += dataset_problems(attributes)
    assert problems == []
    comments = [status.get("ErrorComment", "") for status, _attributes in responses]
    assert not any(LONGEST_UID[:20] in comment for comment in comments), "no comment carries (half) a UID"


def step_error_messages() -> list[str]:
    """Every message a StepError of worklist.services is raised with, its placeholders filled with the longest
    values they take: a UID 64 characters, anything else (an AE title, a status, an accession number) 16."""
    sources = [Path(services.__file__)]
    if Path(services.__file__).name == "__init__.py":  # a package: every module of it
        sources = sorted(Path(services.__file__).parent.glob("*.py"))
    messages = []
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args):
                continue
            error = getattr(services, getattr(node.exc.func, "id", ""), None)
            if not (isinstance(error, type) and issubclass(error, services.StepError)):
                continue
            messages.append(_rendered(node.exc.args[0]))
    return messages


def _rendered(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    if not isinstance(node, ast.JoinedStr):  # a message made elsewhere: as long as a reason in words gets
        return " ".join(["reason"] * 15)
    parts = []
    for part in node.values:
        if isinstance(part, ast.Constant):
            parts.append(str(part.value))
            continue
        longest = LONGEST_UID if "uid" in ast.unparse(part.value).lower() else "X" * 16
        parts.append(repr(longest) if part.conversion == ord("r") else longest)
    return "".join(parts)


def test_every_mpps_refusal_message_fits_the_error_comment_or_is_cut_after_a_whole_word():
    messages = step_error_messages()
    assert len(messages) >= 5
    for message in messages:
        comment = scp._status(0x0110, comment=message).ErrorComment
        assert value_problems("LO", "ErrorComment", 0x00000902, comment) == [], message
        assert word_cut(comment, message), (comment, message)


def test_lo_cuts_after_the_last_whole_word_and_says_so():
    text = "Known allergy to iodinated contrast media, reaction urticaria and bronchospasm in 2019"
    assert lo(text) == "Known allergy to iodinated contrast media, reaction urticaria..."
    assert lo("x" * 70) == "x" * 61 + "...", "a single word longer than the value is cut where it must be"
    assert lo("line one\r\nline\\two") == "line one line/two"


def test_a_person_name_longer_than_a_pn_group_leaves_out_whole_components_least_needed_first():
    family, given = "Montgomery-Featherstonehaugh", "Alexandra Charlotte"
    assert pn(family, given, "Elisabeth", "Prof. Dr. med.", "III") == f"{family}^{given}^Elisabeth^^III"
    assert pn(family, given, "Elisabeth Marie Sophie", "Prof. Dr. med.", "III") == f"{family}^{given}^^^III"
    assert pn(family, given + " Wilhelmina Josephine", "", "", "III") == f"{family}^{given} Wilhelmina"
    assert pn("F" * 64, "Anna") == "F" * 64
