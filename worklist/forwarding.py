"""MPPS forwarding (IHE MPPS Manager): every N-CREATE and N-SET the RIS accepts goes on to the configured DICOM
destinations (the PACS), stored in the transaction that accepted it and sent in order per destination.

Delivery follows ris.delivery: one sender per destination, in id order; a later request for a step waits while an
earlier one of the same step is pending or FAILED (an N-SET never overtakes its N-CREATE); a peer that cannot be
reached ends the run; failures back off RIS_MPPS_FORWARD_RETRY_BASE_SECONDS * 2**attempts, up to
RIS_MPPS_FORWARD_MAX_ATTEMPTS, then the forward is FAILED until an administrator resends it.
"""

import logging
import ssl
import threading
from datetime import date, datetime, time, tzinfo

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from pydicom import Dataset
from pynetdicom import AE, _config
from pynetdicom.association import Association
from pynetdicom.sop_class import ModalityPerformedProcedureStep
from pynetdicom.status import code_to_category

from ris.audit import Actor, Interface, actor_label, attribute
from ris.delivery import (
    DeliveryFailure,
    DeliveryRun,
    deliver_in_order,
    destination_lock,
    destinations_with_due,
    earliest_retry,
    failure_count,
)
from ris.exceptions import ApplicationError
from worklist.models import DicomDestination, MppsForward, PerformedProcedureStep
from worklist.translate import utc_offset

log = logging.getLogger(__name__)

FORWARD_ACTOR = Interface("RIS", "mpps-forwarding")
Status = MppsForward.Status
Operation = MppsForward.Operation

TIMEZONE_OFFSET = "00080201"  # Timezone Offset From UTC (SH), PS3.3 C.12.1
START_DATE, START_TIME = "00400244", "00400245"  # Performed Procedure Step Start Date / Time
END_DATE, END_TIME = "00400250", "00400251"  # Performed Procedure Step End Date / Time
DUPLICATE_SOP_INSTANCE = 0x0111

CONNECT_TIMEOUT_SECONDS = 5
ACSE_TIMEOUT_SECONDS = 10
DIMSE_TIMEOUT_SECONDS = 30
_LOCK_NAMESPACE = 0x4D505053  # "MPPS": the first key of PostgreSQL advisory locks taken here


# --- what is forwarded (pure) -----------------------------------------------------------------------------------


def _value(attributes: dict, tag: str) -> str:
    values = (attributes.get(tag) or {}).get("Value") or []
    return str(values[0]).strip() if values and values[0] is not None else ""


def _moment(attributes: dict, date_tag: str, time_tag: str) -> datetime | None:
    """A DA and TM pair of DICOM JSON as a naive local datetime; None when absent or unreadable."""
    day, clock = _value(attributes, date_tag), _value(attributes, time_tag)
    try:
        parsed_day = date(int(day[:4]), int(day[4:6]), int(day[6:8]))
        digits = clock.split(".")[0].ljust(6, "0") if clock else "000000"
        return datetime.combine(parsed_day, time(int(digits[:2]), int(digits[2:4]), int(digits[4:6])))
    except (ValueError, IndexError):
        return None


def forward_dataset(attributes: dict, *, step_attributes: dict, zone: tzinfo, now: datetime) -> dict:
    """The DICOM JSON to forward: what the modality sent, with Timezone Offset From UTC always present.

    The modality's own offset stays (from this request, else from its N-CREATE); otherwise the department's
    (`zone`) at the step's time: the end this request reports, else the step's start, else `now` (local).
    """
    dataset = dict(attributes)
    if _value(dataset, TIMEZONE_OFFSET):
        return dataset
    offset = _value(step_attributes, TIMEZONE_OFFSET)
    if not offset:
        moment = (
            _moment(attributes, END_DATE, END_TIME)
            or _moment(attributes, START_DATE, START_TIME)
            or _moment(step_attributes, START_DATE, START_TIME)
            or timezone.localtime(now, zone).replace(tzinfo=None)
        )
        offset = utc_offset(moment.replace(tzinfo=zone))  # the department's zone at that wall-clock time
    dataset[TIMEZONE_OFFSET] = {"vr": "SH", "Value": [offset]}
    return dataset


# --- queueing, in the transaction that accepted the request ----------------------------------------------------


def forward_queue(*, sop_instance_uid: str, operation: str, attributes: dict) -> None:
    """Store what to forward of one accepted MPPS request (operation "N-CREATE" or "N-SET"; attributes as DICOM
    JSON), one row per destination taking MPPS, in the caller's transaction; delivery starts once it commits."""
    destinations = list(DicomDestination.objects.filter(enabled=True, forwards_mpps=True).order_by("pk"))
    if not destinations:
        return
    step = PerformedProcedureStep.objects.filter(sop_instance_uid=sop_instance_uid).first()
    dataset = forward_dataset(
        attributes,
        step_attributes=step.attributes if step is not None else {},
        zone=timezone.get_default_timezone(),
        now=timezone.now(),
    )
    for destination in destinations:
        forward = MppsForward(
            destination=destination,
            operation=operation,
            sop_instance_uid=sop_instance_uid,
            accession_number=step.accession_number if step is not None else "",
            dataset=dataset,
        )
        attribute(forward, FORWARD_ACTOR, f"{operation} queued")
        forward.save()
    ids = [destination.pk for destination in destinations]
    transaction.on_commit(lambda: _deliver_soon(ids))


def _deliver_soon(destination_ids: list[int]) -> None:
    """Queue each destination's run (in-process without a broker). Never raises: the MPPS is committed whatever
    happens here, and a forward left pending is found by the next due-run."""
    from worklist.tasks import forward_mpps  # the tasks module imports this one

    for destination_id in destination_ids:
        try:
            forward_mpps.delay(destination_id)
        except Exception:
            log.exception("MPPS forwarding to destination %s could not run; the due-run will", destination_id)


# --- the SCU: one association per run --------------------------------------------------------------------------


def _tls_context() -> ssl.SSLContext:
    """Verify the peer against RIS_MWL_TLS_CA (the department's DICOM CA), else the system store; present the RIS's
    DICOM certificate (RIS_MWL_TLS_CERT) when there is one."""
    context = ssl.create_default_context(cafile=settings.RIS_MWL_TLS_CA or None)
    if settings.RIS_MWL_TLS_CERT:
        context.load_cert_chain(settings.RIS_MWL_TLS_CERT, settings.RIS_MWL_TLS_KEY or None)
    return context


class MppsPeer:
    """The association to one destination, opened on the first forward of a run and released at its end."""

    def __init__(self, destination: DicomDestination):
        self.destination = destination
        self.assoc: Association | None = None

    def __enter__(self) -> "MppsPeer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()
        self.assoc = None

    def _associated(self) -> Association:
        if self.assoc is not None and self.assoc.is_established:
            return self.assoc
        _config.LOG_REQUEST_IDENTIFIERS = False  # pynetdicom would format the patient's data for its debug log
        _config.LOG_RESPONSE_IDENTIFIERS = False
        ae = AE(ae_title=settings.RIS_MWL_AE_TITLE)
        ae.connection_timeout = CONNECT_TIMEOUT_SECONDS
        ae.acse_timeout = ACSE_TIMEOUT_SECONDS
        ae.dimse_timeout = ae.network_timeout = DIMSE_TIMEOUT_SECONDS
        ae.add_requested_context(ModalityPerformedProcedureStep)
        where = f"{self.destination.ae_title}@{self.destination.host}:{self.destination.port}"
        tls = (_tls_context(), self.destination.host) if self.destination.use_tls else None
        assoc = ae.associate(
            self.destination.host, self.destination.port, ae_title=self.destination.ae_title, tls_args=tls
        )
        if not assoc.is_established:
            why = "rejected the association" if assoc.is_rejected else "could not be reached"
            raise DeliveryFailure(
                f"{where} {why}", reason="rejected" if assoc.is_rejected else "connection", peer_down=True
            )
        if not any(context.abstract_syntax == ModalityPerformedProcedureStep for context in assoc.accepted_contexts):
            assoc.release()
            raise DeliveryFailure(f"{where} does not accept MPPS", reason="no-context", peer_down=True)
        self.assoc = assoc
        return assoc

    def send(self, forward: MppsForward) -> None:
        """Send one forward and record it SENT; DeliveryFailure when the peer refused it or could not be reached."""
        assoc = self._associated()
        try:
            dataset = Dataset.from_json(forward.dataset)
            if forward.operation == Operation.N_CREATE:
                answer, _ = assoc.send_n_create(dataset, ModalityPerformedProcedureStep, forward.sop_instance_uid)
            else:
                answer, _ = assoc.send_n_set(dataset, ModalityPerformedProcedureStep, forward.sop_instance_uid)
        except (ValueError, TypeError, KeyError) as error:  # a dataset that cannot be encoded: this forward only
            forward.dimse_status = None
            raise DeliveryFailure(f"Not sent: {error}", reason="encoding") from None
        except RuntimeError as error:  # the association went away under the request
            self.close()
            forward.dimse_status = None
            raise DeliveryFailure(f"Not sent: {error}", reason="connection", peer_down=True) from None
        if "Status" not in answer:  # no answer: aborted, timed out
            self.close()
            forward.dimse_status = None
            raise DeliveryFailure(f"No {forward.operation} response", reason="no-answer", peer_down=True)
        code = int(answer.Status)
        forward.dimse_status = code
        duplicate = forward.operation == Operation.N_CREATE and code == DUPLICATE_SOP_INSTANCE
        if code_to_category(code) not in ("Success", "Warning") and not duplicate:
            raise DeliveryFailure(f"{forward.operation} refused: {_answer_text(answer)}", reason=f"{code:04X}")
        forward.status = Status.SENT
        forward.attempts += 1
        forward.sent_at = timezone.now()
        forward.next_attempt_at = None
        # A duplicate: the peer has the step already (an earlier attempt whose answer was lost, or the modality
        # sent it there too); the N-SETs that follow can go.
        forward.last_error = f"Answered {_answer_text(answer)}" if code else ""
        attribute(forward, FORWARD_ACTOR, "sent")
        forward.save()
        log.info(
            "MPPS %s %s forwarded to %s (%04X; accession %s)",
            forward.operation,
            forward.sop_instance_uid,
            self.destination.name,
            code,
            forward.accession_number,
        )


def _answer_text(answer: Dataset) -> str:
    text = f"{int(answer.Status):04X} ({code_to_category(int(answer.Status)).lower()})"
    if "ErrorID" in answer:
        text += f", Error ID {int(answer.ErrorID):04X}"
    if answer.get("ErrorComment"):
        text += f": {answer.ErrorComment}"
    return text


# --- delivery ---------------------------------------------------------------------------------------------------


def mpps_forwards_deliver(*, destination: DicomDestination, now: datetime | None = None) -> DeliveryRun:
    """Send the destination's due forwards in id order, each step's in the order received; record every outcome."""
    with destination_lock(_LOCK_NAMESPACE, destination.pk) as acquired:
        if not acquired:
            return DeliveryRun(busy=True)
        queue = MppsForward.objects.filter(destination=destination)
        # A step with a FAILED forward waits for its resend: what follows it would be refused, or worse, applied
        # out of order.
        failed_steps = set(queue.filter(status=Status.FAILED).values_list("sop_instance_uid", flat=True))
        with MppsPeer(destination) as peer:
            sent, failed = deliver_in_order(
                queue.filter(status=Status.PENDING),
                key=lambda forward: forward.sop_instance_uid,
                send=peer.send,
                failed=_record_failure,
                now=now,
                blocked=failed_steps,
            )
    retry_at = earliest_retry(MppsForward.objects.filter(destination=destination, status=Status.PENDING))
    return DeliveryRun(sent=sent, failed=failed, retry_at=retry_at)


def _record_failure(forward: MppsForward, error: DeliveryFailure, at: datetime) -> None:
    given_up = failure_count(
        forward,
        error,
        at,
        max_attempts=settings.RIS_MPPS_FORWARD_MAX_ATTEMPTS,
        base_seconds=settings.RIS_MPPS_FORWARD_RETRY_BASE_SECONDS,
    )
    if given_up:
        forward.status = Status.FAILED
    attribute(forward, FORWARD_ACTOR, f"attempt {forward.attempts} failed ({error.reason})")
    forward.save()
    log.log(
        logging.WARNING if given_up else logging.INFO,
        "MPPS %s %s to destination %s: attempt %s failed (%s; accession %s)%s",
        forward.operation,
        forward.sop_instance_uid,
        forward.destination_id,
        forward.attempts,
        error.reason,
        forward.accession_number,
        ", FAILED" if given_up else f", retry at {forward.next_attempt_at.isoformat()}",
    )


def destinations_due(now: datetime | None = None) -> list[int]:
    """Enabled destinations with a pending forward due now."""
    return destinations_with_due(MppsForward.objects.filter(status=Status.PENDING, destination__enabled=True), now)


@transaction.atomic
def mpps_forward_resend(*, forward: MppsForward, acting_user: Actor) -> MppsForward:
    """Queue a FAILED forward again with a fresh count of attempts (an administrator's decision); the step's later
    forwards follow it."""
    forward = MppsForward.objects.select_for_update().get(pk=forward.pk)
    if forward.status != Status.FAILED:
        raise ApplicationError(f"This forward is {forward.get_status_display().lower()}: only a failed one is resent.")
    forward.status = Status.PENDING
    forward.attempts = 0
    forward.next_attempt_at = None
    attribute(forward, acting_user, "resent")
    forward.save()
    log.info("MPPS %s %s queued again by %s", forward.operation, forward.sop_instance_uid, actor_label(acting_user))
    destination_id = forward.destination_id
    transaction.on_commit(lambda: _deliver_soon([destination_id]))
    return forward


# --- without a broker: the worklist SCP runs the due forwards itself --------------------------------------------


def due_forwarding_start(interval: float) -> threading.Event | None:
    """Run the forwards due now and then every `interval` seconds in a background thread (there is no celery beat
    without a broker); set the returned event to stop it. None when `interval` is 0."""
    if interval <= 0:
        return None
    from worklist.tasks import forward_mpps_due

    stop = threading.Event()

    def run() -> None:
        while True:  # at once (what waited while the RIS was down), then every `interval` seconds
            close_old_connections()
            try:
                forward_mpps_due()
            except Exception:
                log.exception("MPPS forwarding: the due-run failed")
            finally:
                connection.close()
            if stop.wait(interval):
                return

    threading.Thread(target=run, name="mpps-forward-due", daemon=True).start()
    return stop
