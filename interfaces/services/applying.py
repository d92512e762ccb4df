"""Applying inbound HL7 messages to the domain: patients (ADT) and orders (ORM^O01 / OMI^O23).

Each handler reads the message through interfaces.inbound (pure) and calls the domain services; it raises
MessageError (or lets ApplicationError through) for the receiving side to turn into an AE with its ERR segment.
"""

import logging
from collections.abc import Callable

from django.utils import timezone

from interfaces import inbound
from interfaces.hl7v2 import Header, MessageError, Reader
from interfaces.models import InboundMessage
from ris.audit import Interface
from ris.exceptions import ApplicationError
from ris.models import Patient, ProcedureType, ReferringPhysician
from ris.selectors import patient_by_mrn
from ris.services import patient_merge, patient_register, patient_update
from scheduling import services as scheduling
from scheduling.models import Exam, Order
from scheduling.selectors import order_by_number, rooms_for

log = logging.getLogger(__name__)


# --- applying: patients ----------------------------------------------------------------------------------------


def _actor(head: Header) -> Interface:
    return Interface("HL7", head.sending_application or "unknown")


def _patient_upsert(data: inbound.PatientData, actor: Interface) -> Patient:
    """Register the patient, or update what the message carries (HL7: an empty field means "no change")."""
    existing = patient_by_mrn(data.mrn, data.mrn_issuer)
    if existing is None:
        fields = {k: v for k, v in data.fields().items() if v not in ("", None) and k != "family_name"}
        try:
            return patient_register(
                family_name=data.names["family_name"],
                mrn=data.mrn,
                mrn_issuer=data.mrn_issuer,
                acting_user=actor,
                **fields,
            )
        except ApplicationError as error:
            # Another connection registered the same patient a moment ago (its transaction has committed now).
            existing = patient_by_mrn(data.mrn, data.mrn_issuer) if error.field == "mrn" else None
            if existing is None:
                raise
    if existing.is_merged:
        existing = existing.merged_into
    changes = {k: v for k, v in data.fields().items() if v not in ("", None) and getattr(existing, k) != v}
    if changes:
        return patient_update(patient=existing, acting_user=actor, reason="HL7 update", **changes)
    return existing


def _adt_patient(reader: Reader, head: Header, row: InboundMessage) -> None:
    """ADT^A01 / A04 register (or update a known patient); A08 / A31 update (or register an unknown one)."""
    data = inbound.patient(reader)
    row.mrn = data.mrn[:64]
    _patient_upsert(data, _actor(head))


def _adt_merge(reader: Reader, head: Header, row: InboundMessage) -> None:
    """ADT^A40: the MRG-1 record is merged into the PID-3 one (its orders, exams and reports move)."""
    data = inbound.patient(reader)
    row.mrn = data.mrn[:64]
    prior_mrn, prior_issuer = inbound.prior_patient(reader)
    source = patient_by_mrn(prior_mrn, prior_issuer)
    if source is None:
        raise MessageError(f"No patient with MRN {prior_mrn} to merge.", code=204, location=("MRG", 1, 1))
    target = _patient_upsert(data, _actor(head))
    patient_merge(source=source, target=target, acting_user=_actor(head))


# --- applying: orders ------------------------------------------------------------------------------------------


def _procedure_types(data: inbound.OrderData) -> list[ProcedureType]:
    found = []
    for request in data.procedures:
        procedure = ProcedureType.objects.select_related("modality").filter(code=request.code, active=True).first()
        if procedure is None:
            raise MessageError(
                f"Procedure code {request.code!r} is not in the catalog.",
                code=103,
                location=("OBR", request.sequence, 4),
            )
        if request.modality and request.modality != procedure.modality.code:
            raise MessageError(
                f"{request.code} is a {procedure.modality.code} procedure, OBR-24 says {request.modality}.",
                code=103,
                location=("OBR", request.sequence, 24),
            )
        found.append(procedure)
    return found


def _book_where_free(exam: Exam, start, actor: Interface) -> bool:
    """IHE RAD-2 with a start time: the first suitable room free then; False when none is (the exam waits)."""
    for room in rooms_for(exam.procedure_type).order_by("name"):
        try:
            scheduling.exam_book(exam=exam, room=room, start=start, acting_user=actor, reason="scheduled by the CIS")
            return True
        except ApplicationError:
            continue
    return False


def _existing_order(data: inbound.OrderData) -> Order:
    order = order_by_number(
        placer_application=data.placer_application,
        placer_order_number=data.placer_order_number,
        filler_order_number=data.filler_order_number,
    )
    if order is None:
        raise MessageError(
            f"No order {data.placer_order_number or data.filler_order_number} from {data.placer_application}.",
            code=204,
            location=("ORC", 1, 2 if data.placer_order_number else 3),
        )
    return order


def _schedule(order: Order, data: inbound.OrderData, actor: Interface) -> None:
    """ORC-5 SC with a start time: book each exam still waiting (or move a booked one) to that time."""
    if data.order_status != "SC":
        return
    exams = list(order.exams.select_related("procedure_type").order_by("id"))
    for exam, request in zip(exams, data.procedures, strict=False):
        if request.start is None or exam.status not in (Exam.Status.ORDERED, Exam.Status.SCHEDULED):
            continue
        if exam.scheduled_start == request.start:
            continue
        if not _book_where_free(exam, request.start, actor):
            log.info("HL7: exam %s left for the front desk to book (no room free at the requested time)", exam.pk)


def _orm(reader: Reader, head: Header, row: InboundMessage) -> None:
    """ORM^O01 / OMI^O23, by order control (ORC-1)."""
    tz = timezone.get_current_timezone()
    data = inbound.order(reader, sending_application=head.sending_application, tz=tz)
    actor = _actor(head)
    patient_data = inbound.patient(reader)
    row.mrn = patient_data.mrn[:64]
    if data.control == "NW":
        patient = _patient_upsert(patient_data, actor)
        physician = None
        if data.ordering_provider_npi:
            physician = ReferringPhysician.objects.filter(npi=data.ordering_provider_npi).first()
        order = scheduling.order_create(
            patient=patient,
            procedure_types=_procedure_types(data),
            acting_user=actor,
            referring_physician=physician,
            priority=data.priority,
            reason=data.reason,
            diagnosis_codes=data.diagnosis_codes,
            placer_order_number=data.placer_order_number,
            placer_application=data.placer_application,
            accession_number=data.procedures[0].accession_number,
            admission_id=data.admission_id,
        )
        row.accession_number = order.accession_number
        _schedule(order, data, actor)
        return
    order = _existing_order(data)
    row.accession_number = order.accession_number
    CONTROLS[data.control](order, data, actor)


def _cancel(order: Order, data: inbound.OrderData, actor: Interface) -> None:
    """CA: every exam not started is cancelled; an exam under way cannot be (AE)."""
    for exam in order.exams.order_by("id"):
        if exam.status in (Exam.Status.ORDERED, Exam.Status.SCHEDULED, Exam.Status.ARRIVED):
            scheduling.exam_cancel(exam=exam, reason="Cancelled by the ordering system (ORC-1 CA)", acting_user=actor)
        elif exam.status not in (Exam.Status.CANCELLED, Exam.Status.NO_SHOW, Exam.Status.DISCONTINUED):
            raise MessageError(
                f"Exam {exam.requested_procedure_id} is {exam.get_status_display().lower()}: it cannot be cancelled;"
                " send DC to discontinue it.",
                code=207,
                location=("ORC", 1, 1),
            )


def _discontinue(order: Order, data: inbound.OrderData, actor: Interface) -> None:
    """DC: exams not started are cancelled, exams under way discontinued."""
    reason = "Discontinued by the ordering system (ORC-1 DC)"
    for exam in order.exams.order_by("id"):
        if exam.status in (Exam.Status.ORDERED, Exam.Status.SCHEDULED, Exam.Status.ARRIVED):
            scheduling.exam_cancel(exam=exam, reason=reason, acting_user=actor)
        elif exam.status == Exam.Status.IN_PROGRESS:
            scheduling.exam_discontinue(exam=exam, reason=reason, acting_user=actor)


def _change(order: Order, data: inbound.OrderData, actor: Interface) -> None:
    """XO: priority, reason and diagnoses as now sent; a new start time (ORC-5 SC) moves the booking."""
    changes = {"priority": data.priority}
    if data.reason:
        changes["reason"] = data.reason
    if data.diagnosis_codes:
        changes["diagnosis_codes"] = data.diagnosis_codes
    scheduling.order_update(order=order, acting_user=actor, note="changed by the ordering system (ORC-1 XO)", **changes)
    _schedule(order, data, actor)


def _status_change(order: Order, data: inbound.OrderData, actor: Interface) -> None:
    """SC: with ORC-5 SC and a start time the exams are booked then; other statuses are the RIS's to set."""
    _schedule(order, data, actor)


CONTROLS: dict[str, Callable[[Order, inbound.OrderData, Interface], None]] = {
    "CA": _cancel,
    "DC": _discontinue,
    "XO": _change,
    "SC": _status_change,
}

HANDLERS: dict[tuple[str, str], Callable[[Reader, Header, InboundMessage], None]] = {
    ("ADT", "A01"): _adt_patient,
    ("ADT", "A04"): _adt_patient,
    ("ADT", "A08"): _adt_patient,
    ("ADT", "A31"): _adt_patient,
    ("ADT", "A40"): _adt_merge,
    ("ORM", "O01"): _orm,
    ("OMI", "O23"): _orm,
}
