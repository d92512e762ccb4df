"""Instance Availability Notification (IAN, PS3.4 Annex R; IHE RAD-49): the PACS tells the RIS which instances of
which study it holds, and how available each is.

`parse_notification` reads the N-CREATE attribute list (PS3.3 C.4.23, PS3.4 Table R.3.2-1) without the database;
`availability_notification_create` records it, finds its exam and updates the exam's image summary through
`scheduling.services.exam_images_available`. A notification whose study the RIS does not know is kept with the
reason, for the front desk to attach to an exam or close (`availability_notification_reconcile`), never dropped.

Several notifications may come for one study (one per series, or again when availability changes): the exam's
summary is worked out from all of them, instance by instance (the latest word on an instance wins), so that the
same instance announced twice is counted once.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from pydicom import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from ris.audit import Actor, Interface, attribute
from ris.exceptions import ApplicationError
from scheduling.models import Exam, ImageAvailability
from scheduling.services import exam_images_available
from worklist.models import AvailabilityNotification, PerformedProcedureStep
from worklist.translate import InvalidQuery, _decode_all, _text

log = logging.getLogger(__name__)
A = ImageAvailability
BEST_FIRST = [A.ONLINE, A.NEARLINE, A.OFFLINE, A.UNAVAILABLE]  # the exam shows the best of its instances
AE_TITLE_MAX = 16


# --- the N-CREATE refused: each error names the status PS3.7 10.1.5 gives it -------------------------------------


class NotificationError(ApplicationError):
    """An IAN N-CREATE the SCP refuses; `status` is its DIMSE status."""

    status = 0x0110  # Processing failure


class MissingAttribute(NotificationError):
    status = 0x0120


class MissingValue(NotificationError):
    status = 0x0121


class InvalidValue(NotificationError):
    status = 0x0106


class DuplicateNotification(NotificationError):
    status = 0x0111


# --- reading the attribute list (no database) ---------------------------------------------------------------------


@dataclass
class Notification:
    """What an IAN says: {series UID: {SOP instance UID: availability}}, where to retrieve, which MPPS."""

    study_instance_uid: str
    series: dict[str, dict[str, str]] = field(default_factory=dict)
    retrieve_ae_title: str = ""  # the first AE title named for an instance that is not UNAVAILABLE (else any)
    retrieve_location_uid: str = ""
    performed_step_uids: list[str] = field(default_factory=list)

    @property
    def instance_count(self) -> int:
        return sum(len(instances) for instances in self.series.values())

    @property
    def availability(self) -> str:
        return best_of(value for instances in self.series.values() for value in instances.values())


def best_of(values) -> str:
    """The best availability among `values` (UNAVAILABLE when there is none)."""
    ranks = [BEST_FIRST.index(value) for value in values]
    return BEST_FIRST[min(ranks)] if ranks else A.UNAVAILABLE


def _required(dataset: Dataset, keyword: str, where: str) -> str:
    """A type 1 value: absent is 0120, empty 0121."""
    if keyword not in dataset:
        raise MissingAttribute(f"{keyword} missing{where}", field=keyword)
    text = _text(dataset, keyword).strip()
    if not text:
        raise MissingValue(f"{keyword} empty{where}", field=keyword)
    return text


def _uid(dataset: Dataset, keyword: str, where: str) -> str:
    value = _required(dataset, keyword, where)
    if not UID(value).is_valid:
        raise InvalidValue(f"{keyword} is not a UID{where}", field=keyword)
    return value


def _items(dataset: Dataset, keyword: str, where: str, *, required: bool) -> list[Dataset]:
    """The items of a sequence; a required one (type 1) must be present with at least one item."""
    if keyword not in dataset:
        if required:
            raise MissingAttribute(f"{keyword} missing{where}", field=keyword)
        return []
    value = dataset[keyword].value
    if value is None or value == "":
        value = Sequence()
    if not isinstance(value, Sequence):
        raise InvalidValue(f"{keyword} is not a sequence{where}", field=keyword)
    if required and not value:
        raise MissingValue(f"{keyword} has no item{where}", field=keyword)
    return list(value)


def parse_notification(dataset: Dataset) -> Notification:
    """The N-CREATE attribute list of an IAN. Raises MissingAttribute (0120), MissingValue (0121) or InvalidValue
    (0106) for a type 1 attribute absent, empty or wrong (PS3.4 Table R.3.2-1). The Referenced Performed Procedure
    Step Sequence (type 2) is read when present; its items' UIDs are required."""
    try:
        _decode_all(dataset)
        return _parse(dataset)
    except InvalidQuery as error:
        raise InvalidValue(str(error)) from None


def _parse(dataset: Dataset) -> Notification:
    notification = Notification(study_instance_uid=_uid(dataset, "StudyInstanceUID", ""))
    for number, item in enumerate(_items(dataset, "ReferencedPerformedProcedureStepSequence", "", required=False), 1):
        where = f" in Referenced Performed Procedure Step item {number}"
        _uid(item, "ReferencedSOPClassUID", where)
        notification.performed_step_uids.append(_uid(item, "ReferencedSOPInstanceUID", where))
    retrieve_titles: list[tuple[str, str]] = []  # (availability, AE title) in the order sent
    for number, series_item in enumerate(_items(dataset, "ReferencedSeriesSequence", "", required=True), 1):
        where = f" in series item {number}"
        series_uid = _uid(series_item, "SeriesInstanceUID", where)
        instances = notification.series.setdefault(series_uid, {})
        for place, item in enumerate(_items(series_item, "ReferencedSOPSequence", where, required=True), 1):
            at = f" in instance item {place} of series item {number}"
            _uid(item, "ReferencedSOPClassUID", at)
            instance_uid = _uid(item, "ReferencedSOPInstanceUID", at)
            availability = _required(item, "InstanceAvailability", at).upper()
            if availability not in BEST_FIRST:
                raise InvalidValue(
                    f"InstanceAvailability {availability[:16]!r} unknown{at}", field="InstanceAvailability"
                )
            titles = [title.strip() for title in _required(item, "RetrieveAETitle", at).split("\\")]
            if any(not title or len(title) > AE_TITLE_MAX for title in titles):
                raise InvalidValue(f"RetrieveAETitle is not an AE title{at}", field="RetrieveAETitle")
            retrieve_titles.append((availability, titles[0]))
            instances[instance_uid] = availability
            location = _text(item, "RetrieveLocationUID").strip() if "RetrieveLocationUID" in item else ""
            if location and not notification.retrieve_location_uid and UID(location).is_valid:
                notification.retrieve_location_uid = location
    available = [title for availability, title in retrieve_titles if availability != A.UNAVAILABLE]
    notification.retrieve_ae_title = (available or [title for _, title in retrieve_titles] or [""])[0]
    return notification


# --- recording it -------------------------------------------------------------------------------------------------


def _exam_for(notification: Notification) -> Exam | None:
    """The exam of the study: by Study Instance UID; else through an MPPS the notification references, or an MPPS
    or an earlier notification of the same study that was matched or attached to an exam by hand."""
    study = notification.study_instance_uid
    exam = Exam.objects.filter(study_instance_uid=study).first()
    if exam is not None:
        return exam
    steps = PerformedProcedureStep.objects.filter(exam__isnull=False).order_by("-created_at")
    if notification.performed_step_uids:
        step = steps.filter(sop_instance_uid__in=notification.performed_step_uids).first()
        if step is not None:
            return step.exam
    step = steps.filter(study_instance_uid=study).first()
    if step is not None:
        return step.exam
    earlier = AvailabilityNotification.objects.filter(study_instance_uid=study, exam__isnull=False)
    earlier = earlier.select_related("exam").order_by("-created_at", "-id").first()
    return earlier.exam if earlier is not None else None


def image_group(exam: Exam) -> set[int]:
    """The exams whose images are this exam's: itself, and the others performed in one procedure step with it (the
    IHE group case: two requested procedures, one acquisition, one study of images)."""
    steps = PerformedProcedureStep.objects.filter(exams=exam)
    return {exam.pk, *Exam.objects.filter(grouped_performed_steps__in=steps).values_list("pk", flat=True)}


def images_refresh_group(*, exams, acting_user: Actor, at: datetime | None = None) -> None:
    """Bring the images of every exam of a group up to date (a notification arrived for one of them, or a grouped
    step now joins exams one of which has notifications already). Exams without any notification are left alone."""
    group = set()
    for exam in exams:
        group |= image_group(exam)
    if not AvailabilityNotification.objects.filter(exam_id__in=group).exists():
        return
    for exam in Exam.objects.filter(pk__in=group).order_by("pk"):  # one lock order for every caller
        exam_images_refresh(exam=exam, acting_user=acting_user, at=at)


@transaction.atomic
def exam_images_refresh(*, exam: Exam, acting_user: Actor, at: datetime | None = None, note: str = "") -> Exam:
    """Work the exam's image summary out from every notification matched to it, oldest first (the latest word on an
    instance wins; an instance counts once however often it was announced), and record it on the exam."""
    # The exam's row first: notifications of one exam recorded at once wait here, each then reading the others.
    exam = Exam.objects.select_for_update().get(pk=exam.pk)
    current: dict[str, tuple[str, str]] = {}  # SOP instance UID -> (series UID, availability)
    retrieve_ae_title = ""
    notifications = AvailabilityNotification.objects.filter(exam_id__in=image_group(exam)).order_by("created_at", "id")
    for notice in notifications:
        for series_uid, instances in notice.series.items():
            for instance_uid, availability in instances.items():
                current[instance_uid] = (series_uid, availability)
        if notice.retrieve_ae_title and notice.availability not in ("", A.UNAVAILABLE):
            retrieve_ae_title = notice.retrieve_ae_title
    available = {uid: series for uid, (series, availability) in current.items() if availability != A.UNAVAILABLE}
    return exam_images_available(
        exam=exam,
        availability=best_of(availability for _series, availability in current.values()),
        series_count=len(set(available.values())),
        instance_count=len(available),
        retrieve_ae_title=retrieve_ae_title,
        acting_user=acting_user,
        at=at,
        note=note,
    )


@transaction.atomic
def availability_notification_create(
    *, sop_instance_uid: str, notification: Notification, attributes: dict, calling_ae: str
) -> AvailabilityNotification:
    """N-CREATE: record the notification; with its exam found, the exam's images are brought up to date; without,
    it waits for reconciliation with the reason."""
    actor = Interface("DICOM", calling_ae or "unknown")
    exam = _exam_for(notification)
    record = AvailabilityNotification(
        sop_instance_uid=sop_instance_uid,
        study_instance_uid=notification.study_instance_uid,
        exam=exam,
        calling_ae_title=calling_ae[:AE_TITLE_MAX],
        series=notification.series,
        series_count=len(notification.series),
        instance_count=notification.instance_count,
        availability=notification.availability,
        retrieve_ae_title=notification.retrieve_ae_title,
        retrieve_location_uid=notification.retrieve_location_uid,
        performed_step_uids=notification.performed_step_uids,
        attributes=attributes,
    )
    if exam is None:
        record.waiting_reason = f"No exam has Study Instance UID {notification.study_instance_uid}"[:200]
        if notification.performed_step_uids:
            record.waiting_reason = f"{record.waiting_reason}, nor an MPPS it references"[:200]
    attribute(record, actor, "received")
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        raise DuplicateNotification(f"This SOP Instance UID exists already: {sop_instance_uid}") from None
    if exam is not None:
        images_refresh_group(exams=[exam], acting_user=actor, at=record.created_at)
    log.info(
        "IAN %s from %s: study %s, %d instances, exam %s",
        sop_instance_uid,
        calling_ae,
        notification.study_instance_uid,
        notification.instance_count,
        exam.accession_number if exam else "(unmatched)",
    )
    return record


@transaction.atomic
def availability_notification_reconcile(
    *, notification: AvailabilityNotification, exam: Exam | None, acting_user: Actor, note: str = ""
) -> AvailabilityNotification:
    """Settle a notification that matched no exam: attach it (and the others of its study still waiting) to the
    exam it was, which gets its images; or close it without one."""
    notification = AvailabilityNotification.objects.select_for_update().get(pk=notification.pk)
    if notification.reconciled or notification.exam_id:
        raise ApplicationError("This availability notification is already settled.")
    if exam is None:
        notification.reconciled = True
        attribute(notification, acting_user, note or "closed without an exam")
        notification.save()
        return notification
    waiting = availability_notifications_to_reconcile().filter(study_instance_uid=notification.study_instance_uid)
    for other in waiting.select_for_update():
        other.exam, other.reconciled = exam, True
        attribute(other, acting_user, note or f"attached to exam {exam.accession_number}")
        other.save()
    images_refresh_group(exams=[exam], acting_user=acting_user)
    notification.refresh_from_db()
    return notification


def availability_notifications_to_reconcile() -> QuerySet[AvailabilityNotification]:
    """Notifications whose study matched no exam and that nobody has settled, newest first."""
    return AvailabilityNotification.objects.filter(exam__isnull=True, reconciled=False).order_by("-created_at", "-id")
