"""UPS workitems over the exams (PS3.4 Annex CC): search, retrieve, change state, update. For UPS-RS (worklist.api)
and the UPS Pull DIMSE service (worklist.scp) alike.

The workitem's state is its exam's (worklist.ups.UPS_STATE). A claim starts the exam and COMPLETED completes it
through the same functions an MPPS uses (worklist.services.exam_started_at_modality / exam_finished_at_modality):
a workitem completed over UPS completes the exam exactly like an MPPS COMPLETED. Every change in a transaction,
its history row naming the actor.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ris.audit import Actor, actor_label, attribute
from ris.exceptions import ApplicationError
from scheduling.models import Exam
from worklist import ups, ups_search
from worklist.models import Workitem
from worklist.selectors import worklist_exams, worklist_matches, worklist_rows
from worklist.services import exam_finished_at_modality, exam_started_at_modality
from worklist.translate import PATIENT_FACT_KEYS, worklist_item

log = logging.getLogger(__name__)

INCONSISTENT = "The submitted request is inconsistent with the state of the UPS Instance."


class WorkitemRefusal(ApplicationError):
    """A UPS request refused. `http_status` and `warning` are PS3.18 11's (the Warning header's text), `status`
    the DIMSE status PS3.4 CC.2 names for the same refusal."""

    http_status = 409
    warning = INCONSISTENT
    status = 0xC300  # The UPS may no longer be updated

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status


class NoSuchWorkitem(WorkitemRefusal):
    http_status = 404
    warning = ""
    status = 0xC307  # Specified SOP Instance UID does not exist or is not a UPS Instance managed by this SCP


class TransactionUidMissing(WorkitemRefusal):
    http_status = 400
    warning = "The Transaction UID is missing."
    status = 0xC301  # The correct Transaction UID was not provided


class TransactionUidIncorrect(WorkitemRefusal):
    http_status = 400
    warning = "The Transaction UID is incorrect."
    status = 0xC301


class InvalidWorkitemRequest(WorkitemRefusal):
    http_status = 400
    warning = ""
    status = 0x0106  # Invalid attribute value


@dataclass(frozen=True)
class StateChange:
    """A Change State that succeeded, with the warning PS3.4 CC.2.1 gives when nothing had to change."""

    workitem: Workitem
    warning: str = ""
    status: int = 0x0000


# --- reads ------------------------------------------------------------------------------------------------------


def workitems_for(rows: Iterable[dict]) -> dict[int, Workitem]:
    """The workitem of each exam row (exam id -> it), created where the exam has none yet: its UID is derived from
    the exam (ups.workitem_uid), so concurrent searches create the same row once. Not a state change: no history."""
    rows = list(rows)
    found = {item.exam_id: item for item in Workitem.objects.filter(exam_id__in=[row["id"] for row in rows])}
    missing = [
        Workitem(
            exam_id=row["id"],
            sop_instance_uid=ups.workitem_uid(row["study_instance_uid"], row["scheduled_procedure_step_id"]),
        )
        for row in rows
        if row["id"] not in found
    ]
    if missing:
        Workitem.objects.bulk_create(missing, ignore_conflicts=True)
        created = Workitem.objects.filter(exam_id__in=[item.exam_id for item in missing])
        found.update({item.exam_id: item for item in created})
    return found


def workitem_of_exam(exam: Exam) -> Workitem:
    """The exam's workitem (created when it has none yet)."""
    row = {
        "id": exam.pk,
        "study_instance_uid": exam.study_instance_uid,
        "scheduled_procedure_step_id": exam.scheduled_procedure_step_id,
    }
    return workitems_for([row])[exam.pk]


def _values(row: dict, item: Workitem, patient, exam, now: datetime) -> dict:
    local = timezone.localtime(row["scheduled_start"]) if row["scheduled_start"] else None
    mwl = worklist_item(
        row,
        local_start=local,
        coding_scheme=settings.RIS_PROCEDURE_CODING_SCHEME,
        protocol_scheme=settings.RIS_PROTOCOL_CODING_SCHEME,
        patient=patient,
        exam=exam,
    )
    state = ups.UPS_STATE.get(row["status"], ups.SCHEDULED)
    return ups.ups_values(mwl, uid=item.sop_instance_uid, state=state, local_start=local, now=timezone.localtime(now))


@dataclass
class SearchResult:
    datasets: list[dict]  # DICOM JSON
    exam_ids: list[int]
    more: bool  # there are matches past this page


def _matches(search: ups_search.UpsSearch) -> tuple[list[tuple[dict, Workitem]], list[int], bool]:
    """One page of matches: each workitem's attributes by keyword with its row, the exams, and whether more follow."""
    query = search.query
    if search.sop_instance_uids is not None:
        named = Workitem.objects.filter(sop_instance_uid__in=search.sop_instance_uids)
        studies = set(named.values_list("exam__study_instance_uid", flat=True))
        if query.study_instance_uids is not None:
            studies &= set(query.study_instance_uids)
        if not studies:
            return [], [], False
        query.study_instance_uids = tuple(sorted(studies))
    exams = worklist_exams(query, statuses=[], limit=search.offset + search.limit + 1)
    rows = list(worklist_rows(exams))[search.offset :]
    more, rows = len(rows) > search.limit, rows[: search.limit]
    keys = ups_search.returned_keys(search)
    items = workitems_for(rows)
    now = timezone.now()
    matches = worklist_matches(
        rows,
        patient_facts=bool(keys & PATIENT_FACT_KEYS),
        exam_facts=bool(keys & ups.EXAM_FACT_UPS_KEYS),
    )
    found = [(_values(row, items[row["id"]], patient, exam, now), items[row["id"]]) for row, patient, exam in matches]
    return found, [row["id"] for row in rows], more


def workitems_search(search: ups_search.UpsSearch) -> SearchResult:
    """Search Workitems: the MWL's query over the exams, one page of DICOM JSON datasets."""
    found, exam_ids, more = _matches(search)
    keys = ups_search.returned_keys(search)
    return SearchResult(
        [ups.ups_json(values, keys=keys, stored=item.attributes) for values, item in found], exam_ids, more
    )


def workitem_values(search: ups_search.UpsSearch) -> list[tuple[dict, dict]]:
    """The matches of a UPS C-FIND: each workitem's attributes by keyword, with what its performer set (by tag)."""
    found, _exam_ids, _more = _matches(search)
    return [(values, item.attributes) for values, item in found]


def workitem_get(sop_instance_uid: str) -> tuple[dict, Workitem]:
    """Retrieve Workitem: every attribute of it, the clinical facts included; never its Transaction UID."""
    item = Workitem.objects.select_related("exam").filter(sop_instance_uid=sop_instance_uid).first()
    if item is None:
        raise NoSuchWorkitem(f"No workitem {sop_instance_uid}.")
    rows = list(worklist_rows(Exam.objects.filter(pk=item.exam_id)))
    [(row, patient, exam)] = list(worklist_matches(rows, patient_facts=True, exam_facts=True))
    return ups.ups_json(_values(row, item, patient, exam, timezone.now()), stored=item.attributes), item


# --- changes ----------------------------------------------------------------------------------------------------


def _locked(sop_instance_uid: str) -> tuple[Workitem, Exam, str]:
    item = Workitem.objects.select_for_update().filter(sop_instance_uid=sop_instance_uid).first()
    if item is None:
        raise NoSuchWorkitem(f"No workitem {sop_instance_uid}.")
    exam = Exam.objects.select_for_update().get(pk=item.exam_id)
    item.exam = exam
    return item, exam, ups.UPS_STATE.get(exam.status, ups.SCHEDULED)


def _check_transaction(item: Workitem, transaction_uid: str) -> None:
    if not transaction_uid:
        raise TransactionUidMissing("Give the Transaction UID (0008,1195) with which the workitem was claimed.")
    if transaction_uid != item.transaction_uid:
        raise TransactionUidIncorrect("The Transaction UID is not the one the workitem was claimed with.")


@transaction.atomic
def workitem_change_state(
    *, sop_instance_uid: str, state: str, transaction_uid: str, acting_user: Actor, at: datetime | None = None
) -> StateChange:
    """Change UPS State (PS3.4 CC.2.1, the transitions of Table CC.1.1-2): claim (IN PROGRESS, the performer's new
    Transaction UID recorded, the exam started), COMPLETED (the exam completed) or CANCELED (the exam
    discontinued), the last two with the claim's Transaction UID."""
    item, exam, current = _locked(sop_instance_uid)
    if state == ups.SCHEDULED:
        raise WorkitemRefusal("A workitem becomes SCHEDULED only by being booked.", status=0xC303)
    if state not in ups.STATES:
        raise InvalidWorkitemRequest(f"Procedure Step State {state!r}: give IN PROGRESS, COMPLETED or CANCELED.")
    if not transaction_uid:
        raise TransactionUidMissing("Give a Transaction UID (0008,1195): a new UID to claim, the claim's after.")
    if not ups.valid_uid(transaction_uid):
        raise InvalidWorkitemRequest(f"Transaction UID {transaction_uid!r} is not a valid UID.")
    if state == current and state in ups.FINAL_STATES:
        warning = f"The UPS is already in the requested state of {state}."
        return StateChange(item, warning, 0xB304 if state == ups.CANCELED else 0xB306)
    if state == ups.IN_PROGRESS:
        return _claim(item, exam, current, transaction_uid, acting_user, at)
    if current == ups.SCHEDULED:
        raise WorkitemRefusal("The workitem is not yet IN PROGRESS: claim it first.", status=0xC310)
    if current == ups.COMPLETED:
        raise WorkitemRefusal("The workitem is already COMPLETED.", status=0xC311)
    if current == ups.CANCELED:
        raise WorkitemRefusal("The workitem is CANCELED and may no longer be updated.", status=0xC300)
    _check_transaction(item, transaction_uid)
    tz = timezone.get_current_timezone()
    if state == ups.COMPLETED:
        start, end = ups.performed_times(item.attributes)
        if not start or not end:  # PS3.4 CC.2.5.1.3.1: the final state requirements (Table CC.2.5-3)
            raise WorkitemRefusal(
                "The workitem cannot be COMPLETED yet: set the Unified Procedure Step Performed Procedure Sequence "
                "(0074,1216) with Performed Procedure Step Start and End DateTime first (Update Workitem).",
                status=0xC304,
            )
        moved = exam_finished_at_modality(
            exam, completed=True, acting_user=acting_user, at=ups.parse_dt(end, tz) or at, step=item
        )
    else:
        reason = ups.cancellation_reason(item.attributes) or "Canceled by the performer (UPS)"
        moved = exam_finished_at_modality(
            exam, completed=False, acting_user=acting_user, at=at, reason=reason, step=item
        )
    if moved is None:
        raise WorkitemRefusal(f"The exam cannot be moved to {state} now ({exam.get_status_display()}).", status=0xC300)
    attribute(item, acting_user, f"UPS {state}")
    item.save()
    log.info("Workitem %s %s by %s (exam %s)", sop_instance_uid, state, actor_label(acting_user), exam.pk)
    return StateChange(item)


def _claim(item: Workitem, exam: Exam, current: str, transaction_uid: str, acting_user, at) -> StateChange:
    if current == ups.IN_PROGRESS:
        raise WorkitemRefusal("The workitem is already IN PROGRESS.", status=0xC302)
    if current != ups.SCHEDULED:
        raise WorkitemRefusal(f"The workitem is {current} and may no longer be updated.", status=0xC300)
    station = (exam.room.station_ae_title if exam.room else "") or "UPS"
    started = exam_started_at_modality(exam, acting_user=acting_user, at=at, station=station, step=item)
    if started is None:
        raise WorkitemRefusal(f"The exam cannot be started now ({exam.get_status_display()}).", status=0xC300)
    item.transaction_uid = transaction_uid
    item.claimed_by = actor_label(acting_user)
    item.claimed_at = at or timezone.now()
    attribute(item, acting_user, "UPS claimed: IN PROGRESS")
    item.save()
    log.info("Workitem %s claimed by %s (exam %s)", item.sop_instance_uid, item.claimed_by, exam.pk)
    return StateChange(item)


@transaction.atomic
def workitem_update(
    *, sop_instance_uid: str, dataset: dict, transaction_uid: str, acting_user: Actor
) -> tuple[Workitem, list[str]]:
    """Update Workitem (PS3.4 CC.2.6 N-SET) of an IN PROGRESS workitem, by the performer holding its Transaction UID:
    its progress and its performed procedure (sequences replaced whole). The scheduling attributes are the RIS's.
    Returns the workitem and the keywords set."""
    item, _exam, current = _locked(sop_instance_uid)
    if current in ups.FINAL_STATES:
        raise WorkitemRefusal(f"The workitem is {current} and may no longer be updated.", status=0xC300)
    if current == ups.SCHEDULED:
        raise WorkitemRefusal(
            "A SCHEDULED workitem is the RIS's booking: change it at the RIS, or claim it before updating it.",
            status=0xC310,
        )
    _check_transaction(item, transaction_uid or ups.single_text(dataset, ups.TRANSACTION_UID))
    if ups.STATE_TAG in dataset:
        raise InvalidWorkitemRequest("Procedure Step State changes with Change Workitem State, not with Update.")
    others = [tag for tag in dataset if tag not in ups.UPDATABLE | {ups.TRANSACTION_UID, ups.CHARSET_TAG}]
    if others:
        names = ", ".join(ups.keyword_of(tag) for tag in others)
        raise InvalidWorkitemRequest(
            f"Not updated by the performer: {names}. Update sets Procedure Step Progress Information Sequence and "
            "Unified Procedure Step Performed Procedure Sequence.",
            status=0x0105,  # No such attribute (for N-SET)
        )
    changes = {tag: dataset[tag] for tag in ups.UPDATABLE if tag in dataset}
    if not changes:
        raise InvalidWorkitemRequest("Nothing to update: send the progress or the performed procedure sequence.")
    if any(element.get("vr") not in (None, "SQ") for element in changes.values()):
        raise InvalidWorkitemRequest("The progress and the performed procedure are sequences (VR SQ).")
    item.attributes = {**item.attributes, **changes}
    names = [ups.keyword_of(tag) for tag in sorted(changes)]
    attribute(item, acting_user, "UPS updated: " + ", ".join(names))
    item.save()
    return item, names
