"""Instance Availability Notification: a pynetdicom SCU acting as the PACS tells the running SCP which instances of
which study it holds; the exam records its images, an unknown study waits for the front desk."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import InstanceAvailabilityNotification, ModalityPerformedProcedureStep

from ris.models import ContrastClass, Role
from scheduling.models import Exam
from tests.factories import PatientFactory, ProcedureTypeFactory, make_booked_exam, make_completed_exam
from tests.worklist.conftest import at
from tests.worklist.test_mpps_grouped import create
from worklist import ian
from worklist.models import AvailabilityNotification
from worklist.services import mpps_create
from worklist.translate import StepReport

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def network(test):
    """A test against the running SCP."""
    return pytest.mark.django_db(transaction=True, serialized_rollback=True)(pytest.mark.slow(test))


def notification(study_uid: str | None, series: dict[str, list[str]], *, availability="ONLINE", ae="PACS1", **more):
    """An IAN attribute list: {series UID: [SOP instance UIDs]}, each instance with `availability` at `ae`."""
    ds = Dataset()
    ds.ReferencedPerformedProcedureStepSequence = Sequence()
    if study_uid is not None:
        ds.StudyInstanceUID = study_uid
    items = []
    for series_uid, instances in series.items():
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedSOPSequence = Sequence()
        for uid in instances:
            ref = Dataset()
            ref.ReferencedSOPClassUID = CT_IMAGE
            ref.ReferencedSOPInstanceUID = uid
            ref.InstanceAvailability = availability
            ref.RetrieveAETitle = ae
            ref.RetrieveLocationUID = "1.2.3.99"
            item.ReferencedSOPSequence.append(ref)
        items.append(item)
    ds.ReferencedSeriesSequence = Sequence(items)
    for keyword, value in more.items():
        setattr(ds, keyword, value)
    return ds


def uids(count: int) -> list[str]:
    return [generate_uid() for _ in range(count)]


@pytest.fixture
def pacs(settings, mwl_port):
    """An association from the PACS (its AE title allowed as an extra caller), IAN and MPPS proposed."""
    settings.RIS_MWL_RESTRICT_CALLERS = True
    settings.RIS_MWL_EXTRA_AE_TITLES = ["PACS"]
    ae = AE(ae_title="PACS")
    ae.add_requested_context(InstanceAvailabilityNotification)
    ae.add_requested_context(ModalityPerformedProcedureStep)
    assoc = ae.associate("127.0.0.1", mwl_port, ae_title="RIS_MWL")
    assert assoc.is_established
    yield assoc
    if assoc.is_established:
        assoc.release()


def send(assoc, dataset: Dataset, uid: str | None = "auto") -> tuple[int, Dataset]:
    uid = generate_uid() if uid == "auto" else uid
    status, _answer = assoc.send_n_create(dataset, InstanceAvailabilityNotification, uid)
    return status.Status, status


# --- over the network -----------------------------------------------------------------------------------------


@network
def test_the_pacs_announces_a_known_study_and_the_exam_records_its_images(department, pacs):
    exam = department["exams"]["muller"]
    first, second = uids(2), uids(1)
    code, _ = send(pacs, notification(exam.study_instance_uid, {"1.2.3.1": first, "1.2.3.2": second}))
    assert code == 0x0000
    exam.refresh_from_db()
    assert (exam.image_availability, exam.image_series_count, exam.image_instance_count) == ("ONLINE", 2, 3)
    assert exam.image_retrieve_ae_title == "PACS1"
    assert exam.has_images
    assert abs((timezone.now() - exam.images_available_at).total_seconds()) < 60
    assert exam.history.first().history_actor == "DICOM:PACS"
    record = AvailabilityNotification.objects.get()
    assert (record.exam, record.calling_ae_title, record.instance_count, record.reconciled) == (exam, "PACS", 3, False)
    assert record.series["1.2.3.1"] == {uid: "ONLINE" for uid in first}
    assert record.retrieve_location_uid == "1.2.3.99"
    assert record.history.get().history_actor == "DICOM:PACS"


@network
def test_notifications_per_series_and_repeated_ones_add_up_by_distinct_instance(department, pacs):
    exam = department["exams"]["oster"]
    study = exam.study_instance_uid
    series_a, series_b = uids(3), uids(2)
    assert send(pacs, notification(study, {"1.2.3.10": series_a[:2]}))[0] == 0x0000
    assert send(pacs, notification(study, {"1.2.3.11": series_b}, availability="NEARLINE"))[0] == 0x0000
    # The first series again, now complete: two instances announced before, one new.
    assert send(pacs, notification(study, {"1.2.3.10": series_a}))[0] == 0x0000
    exam.refresh_from_db()
    assert (exam.image_series_count, exam.image_instance_count, exam.image_availability) == (2, 5, "ONLINE")
    assert AvailabilityNotification.objects.filter(exam=exam).count() == 3


@network
def test_an_unknown_study_is_kept_and_the_front_desk_attaches_it_from_the_page(department, pacs, client_for):
    exam = department["exams"]["smith"]
    study = "1.2.826.0.1.3680043.2.1125.777"
    assert send(pacs, notification(study, {"1.2.3.20": uids(4)}))[0] == 0x0000
    waiting = AvailabilityNotification.objects.get()
    assert (waiting.exam, waiting.reconciled) == (None, False)
    assert waiting.waiting_reason == f"No exam has Study Instance UID {study}"
    desk = client_for(Role.FRONT_DESK)
    page = desk.get(reverse("worklist:availability_list")).content.decode()
    assert study in page
    assert waiting.waiting_reason in page
    response = desk.post(
        reverse("worklist:availability_reconcile", args=[waiting.pk]),
        {"accession_number": exam.accession_number},
        follow=True,
    )
    assert "its images are recorded" in response.content.decode()
    waiting.refresh_from_db()
    exam.refresh_from_db()
    assert (waiting.exam, waiting.reconciled) == (exam, True)
    assert (exam.image_instance_count, exam.image_series_count) == (4, 1)
    assert study not in desk.get(reverse("worklist:availability_list")).content.decode()
    # A later notification of that study follows the exam it was attached to.
    assert send(pacs, notification(study, {"1.2.3.21": uids(1)}))[0] == 0x0000
    exam.refresh_from_db()
    assert (exam.image_instance_count, exam.image_series_count) == (5, 2)


@network
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI", "ignore:The value length")
def test_bad_requests_get_the_statuses_ps3_7_names(department, pacs):
    study = department["exams"]["yamada"].study_instance_uid
    good = notification(study, {"1.2.3.30": uids(1)})
    no_study = notification(None, {"1.2.3.30": uids(1)})
    empty_study = notification("", {"1.2.3.30": uids(1)})
    no_series = notification(study, {})
    del no_series.ReferencedSeriesSequence
    empty_series = notification(study, {})
    bad_availability = notification(study, {"1.2.3.30": uids(1)}, availability="SOMEWHERE")
    bad_uid = notification("1.2.03.x", {"1.2.3.30": uids(1)})
    long_ae = notification(study, {"1.2.3.30": uids(1)})
    long_ae.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].RetrieveAETitle = "A" * 17
    no_ae = notification(study, {"1.2.3.30": uids(1)})
    del no_ae.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].RetrieveAETitle
    no_series_uid = notification(study, {"1.2.3.30": uids(1)})
    del no_series_uid.ReferencedSeriesSequence[0].SeriesInstanceUID
    cases = {
        "missing Study Instance UID": (no_study, 0x0120),
        "empty Study Instance UID": (empty_study, 0x0121),
        "no Referenced Series Sequence": (no_series, 0x0120),
        "a Referenced Series Sequence without items": (empty_series, 0x0121),
        "an unknown availability": (bad_availability, 0x0106),
        "a study UID that is no UID": (bad_uid, 0x0106),
        "an AE title of 17 characters": (long_ae, 0x0106),
        "no Retrieve AE Title": (no_ae, 0x0120),
        "no Series Instance UID": (no_series_uid, 0x0120),
    }
    answers = {name: send(pacs, dataset)[0] for name, (dataset, _) in cases.items()}
    assert answers == {name: status for name, (_, status) in cases.items()}
    assert not AvailabilityNotification.objects.exists()
    uid = generate_uid()
    assert send(pacs, good, uid)[0] == 0x0000
    code, status = send(pacs, good, uid)
    assert code == 0x0111
    assert "exists already" in status.ErrorComment
    assert AvailabilityNotification.objects.count() == 1


@network
def test_without_an_instance_uid_the_scp_names_one_and_a_study_is_found_through_its_mpps(department, pacs):
    exam = department["exams"]["muller"]
    report = StepReport(status="IN PROGRESS", scheduled=[("", "", exam.scheduled_procedure_step_id, "")])
    report.started_at = timezone.now()
    mpps_create(sop_instance_uid="1.2.3.4.5", report=report, attributes={}, calling_ae="CT1")
    modality_study = generate_uid()  # the modality made its own Study Instance UID
    dataset = notification(modality_study, {"1.2.3.40": uids(2)})
    step = Dataset()
    step.ReferencedSOPClassUID = ModalityPerformedProcedureStep
    step.ReferencedSOPInstanceUID = "1.2.3.4.5"
    step.PerformedWorkitemCodeSequence = Sequence()
    dataset.ReferencedPerformedProcedureStepSequence = Sequence([step])
    status, _ = pacs.send_n_create(dataset, InstanceAvailabilityNotification, None)
    assert status.Status == 0x0000
    record = AvailabilityNotification.objects.get()
    assert UID(record.sop_instance_uid).is_valid
    assert (record.exam, record.performed_step_uids) == (exam, ["1.2.3.4.5"])
    exam.refresh_from_db()
    assert exam.image_instance_count == 2


# --- the service and the page, without the network -------------------------------------------------------------


@pytest.mark.django_db
def test_instances_made_unavailable_leave_the_count_and_the_exam_without_images():
    exam = make_completed_exam()
    study, instances = exam.study_instance_uid, uids(2)
    create = ian.availability_notification_create
    create(
        sop_instance_uid=generate_uid(),
        notification=ian.parse_notification(notification(study, {"1.2.3.50": instances})),
        attributes={},
        calling_ae="PACS",
    )
    half = ian.parse_notification(notification(study, {"1.2.3.50": instances[:1]}, availability="UNAVAILABLE"))
    create(sop_instance_uid=generate_uid(), notification=half, attributes={}, calling_ae="PACS")
    exam.refresh_from_db()
    assert (exam.image_instance_count, exam.image_availability, exam.has_images) == (1, "ONLINE", True)
    rest = ian.parse_notification(notification(study, {"1.2.3.50": instances}, availability="UNAVAILABLE"))
    create(sop_instance_uid=generate_uid(), notification=rest, attributes={}, calling_ae="PACS")
    exam.refresh_from_db()
    assert (exam.image_instance_count, exam.image_availability, exam.has_images) == (0, "UNAVAILABLE", False)
    assert exam.image_retrieve_ae_title == ""


@pytest.mark.django_db
def test_the_best_availability_and_the_first_retrieve_ae_title_of_an_available_instance():
    dataset = notification("1.2.3", {"1.2.3.60": ["1.2.3.60.1"]}, availability="OFFLINE", ae="ARCHIVE")
    dataset.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].RetrieveAETitle = ["ARCHIVE", "MIRROR"]
    more = notification("1.2.3", {"1.2.3.61": ["1.2.3.61.1"]}, availability="NEARLINE", ae="PACS2")
    dataset.ReferencedSeriesSequence.append(more.ReferencedSeriesSequence[0])
    parsed = ian.parse_notification(dataset)
    assert (parsed.availability, parsed.retrieve_ae_title, parsed.instance_count) == ("NEARLINE", "ARCHIVE", 2)


@pytest.mark.django_db
def test_a_waiting_notification_can_be_closed_and_an_unknown_accession_number_is_refused(client_for):
    parsed = ian.parse_notification(notification("1.2.3.70", {"1.2.3.71": uids(1)}))
    record = ian.availability_notification_create(
        sop_instance_uid=generate_uid(), notification=parsed, attributes={}, calling_ae="PACS"
    )
    tech = client_for(Role.TECHNOLOGIST)
    url = reverse("worklist:availability_reconcile", args=[record.pk])
    response = tech.post(url, {"accession_number": "A-NONE"}, follow=True)
    assert "names no exam" in response.content.decode()
    record.refresh_from_db()
    assert (record.exam, record.reconciled) == (None, False)
    tech.post(url, {"action": "close"})
    record.refresh_from_db()
    assert (record.exam, record.reconciled) == (None, True)
    assert record.history.first().history_change_reason == "closed without an exam"


@pytest.mark.django_db
def test_billing_cannot_open_the_images_to_reconcile(client_for):
    assert client_for(Role.BILLING).get(reverse("worklist:availability_list")).status_code == 403


@pytest.mark.django_db
def test_the_technologist_list_and_the_exam_page_show_the_images_received(client_for):
    exam = make_booked_exam()  # tomorrow 09:00
    without = make_booked_exam(room=exam.room, start=exam.scheduled_end + timedelta(hours=1))
    parsed = ian.parse_notification(notification(exam.study_instance_uid, {"1.2.3.80": uids(3)}, ae="PACS1"))
    ian.availability_notification_create(
        sop_instance_uid=generate_uid(), notification=parsed, attributes={}, calling_ae="PACS"
    )
    tech = client_for(Role.TECHNOLOGIST)
    day = timezone.localtime(exam.scheduled_start).date().isoformat()
    html = tech.get(reverse("worklist:home"), {"day": day}).content.decode()
    row = html.split(f'id="exam-{exam.pk}"')[1].split("</tr>")[0]
    other = html.split(f'id="exam-{without.pk}"')[1].split("</tr>")[0]
    assert "Images received" in row
    assert "1 series, 3 instances" in row
    assert "Images received" not in other
    page = tech.get(reverse("scheduling:exam", args=[exam.pk])).content.decode()
    assert "1 series, 3 instances" in page
    assert "retrieve from PACS1" in page
    assert Exam.objects.get(pk=without.pk).images_available_at is None


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI", "ignore:Invalid value for VR CS")
def test_values_of_the_wrong_kind_are_invalid_values():
    not_a_sequence = notification("1.2.3", {"1.2.3.90": ["1.2.3.90.1"]})
    del not_a_sequence.ReferencedSeriesSequence
    not_a_sequence.add_new(0x00081115, "UI", "1.2.3")  # Referenced Series Sequence sent as a UID
    with pytest.raises(ian.InvalidValue, match="not a sequence"):
        ian.parse_notification(not_a_sequence)
    with_nul = notification("1.2\x003", {"1.2.3.91": ["1.2.3.91.1"]})
    with pytest.raises(ian.InvalidValue, match="NUL"):
        ian.parse_notification(with_nul)
    padded = notification("1.2.3\x00", {"1.2.3.92": ["1.2.3.92.1"]}, availability="online")
    parsed = ian.parse_notification(padded)  # padding as some systems send it; a CS in lower case is read
    assert (parsed.study_instance_uid, parsed.availability) == ("1.2.3", "ONLINE")


# --- the group case: one acquisition, two requested procedures, one study of images ----------------------------


def announce(study_uid: str, count: int, *, uid: str) -> AvailabilityNotification:
    parsed = ian.parse_notification(notification(study_uid, {generate_uid(): uids(count)}))
    return ian.availability_notification_create(
        sop_instance_uid=uid, notification=parsed, attributes={}, calling_ae="PACS"
    )


def images_of(exam: Exam) -> tuple[str, int, int]:
    exam = Exam.objects.get(pk=exam.pk)
    return exam.image_availability, exam.image_series_count, exam.image_instance_count


@pytest.mark.django_db
def test_images_of_a_grouped_step_are_every_exam_of_the_step_whichever_comes_first():
    _patient, (head, chest) = make_pair()
    # The CT did both in one acquisition, under the head exam's Study Instance UID.
    create([head, chest], uid="1.2.826.0.1.91")
    announce(head.study_instance_uid, 40, uid="1.2.826.0.1.92")
    assert images_of(head) == images_of(chest) == ("ONLINE", 1, 40)

    # A second pair: the PACS announces the images before the modality's N-CREATE groups the exams.
    _patient, (first, second) = make_pair()
    announce(first.study_instance_uid, 12, uid="1.2.826.0.1.93")
    assert images_of(second) == ("", 0, 0)
    create([first, second], uid="1.2.826.0.1.94")
    assert images_of(first) == images_of(second) == ("ONLINE", 1, 12)


def make_pair():
    patient = PatientFactory()
    booked = timezone.now() - timedelta(days=1)
    exams = [
        make_booked_exam(
            patient=patient,
            procedure_types=[ProcedureTypeFactory(contrast=ContrastClass.NONE)],
            start=at(hour),
            booked_at=booked,
        )
        for hour in (13, 14)
    ]
    return patient, exams
