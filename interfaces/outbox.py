"""From outbox events to outbound HL7 messages: one OutboundMessage per enabled destination that takes the type.

Domain services record what changed (ris.services.outbox_add, in their own transaction); here each event becomes
its messages, built from the event's facts and the exam as it is now, and is marked processed in the same
transaction. Events are taken in id order under a row lock, so the messages of one order are stored (and later
sent) in the order the changes happened.
"""

import logging
import secrets
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from interfaces import outbound
from interfaces.models import Destination, OutboundMessage
from reporting.models import Report
from reporting.text import report_lines
from ris.models import OutboxEvent, Patient
from scheduling.models import Exam

log = logging.getLogger(__name__)

# Event kinds turned into ORM^O01 and their ORC-1 order control (HL7 table 0119).
ORDER_CONTROL = {"exam.booked": "NW", "exam.rescheduled": "XO", "exam.cancelled": "CA", "exam.status": "SC"}
# Exam statuses an SC tells of; report statuses reach the PACS as ORU, booking and cancelling have their own.
STATUS_CHANGES = frozenset({"ARRIVED", "IN_PROGRESS", "COMPLETED", "DISCONTINUED", "NO_SHOW"})
# Report events and the result status of their ORU^R01 (HL7 table 0085): final, corrected (an addendum).
RESULT_STATUS = {"report.final": "F", "report.addendum": "C"}
HANDLED_KINDS = (*ORDER_CONTROL, *RESULT_STATUS)


def control_id_new() -> str:
    """MSH-10: 20 random hex characters, unique without a database round trip (OutboundMessage holds uniqueness)."""
    return secrets.token_hex(10)


def outbox_drain(*, batch_size: int = 200) -> int:
    """Turn unprocessed events into outbound messages; return how many events were processed.

    Kinds handled nowhere yet (e.g. report.final before reports exist) are left unprocessed, not lost. An event
    whose messages cannot be built is logged and kept, and later events of its order wait behind it.
    """
    processed = 0
    while True:
        with transaction.atomic():
            events = list(
                OutboxEvent.objects.select_for_update()
                .filter(processed_at__isnull=True, kind__in=HANDLED_KINDS)
                .order_by("id")[:batch_size]
            )
            if not events:
                return processed
            enabled = list(Destination.objects.filter(enabled=True))
            takers = {kind: [d for d in enabled if d.takes(kind)] for kind in ("ORM", "ORU")}
            now = timezone.now()
            done, blocked = [], set()
            for event in events:
                key = event.payload.get("accession_number") or ""
                if key and key in blocked:
                    continue
                try:
                    with transaction.atomic():
                        if event.kind in RESULT_STATUS:
                            messages = _report_messages(event, takers["ORU"], now)
                        else:
                            messages = _messages_for(event, takers["ORM"], now)
                        OutboundMessage.objects.bulk_create(messages)
                except Exception:
                    log.exception("Outbox event %s (%s) not turned into messages; kept", event.pk, event.kind)
                    if key:
                        blocked.add(key)
                    continue
                done.append(event.pk)
            OutboxEvent.objects.filter(pk__in=done).update(processed_at=now, updated_at=now)
        processed += len(done)
        if len(events) < batch_size or not done:
            return processed


def _messages_for(event: OutboxEvent, destinations: list[Destination], now: datetime) -> list[OutboundMessage]:
    payload = event.payload
    control = ORDER_CONTROL[event.kind]
    if not destinations:
        return []
    if control == "SC" and payload.get("status") not in STATUS_CHANGES:
        return []
    if control == "CA" and payload.get("previous_status") == "ORDERED":
        return []  # never booked: the PACS was never told of it
    exam = (
        Exam.objects.select_related("order__patient", "order__referring_physician", "procedure_type__modality")
        .filter(pk=payload.get("exam_id"))
        .first()
    )
    if exam is None:
        log.warning("Outbox event %s: exam %s is gone; nothing sent", event.pk, payload.get("exam_id"))
        return []
    patient = patient_data(exam.order.patient)
    order = exam_order(exam, payload, control)
    messages = []
    for destination in destinations:
        control_id = control_id_new()
        raw = outbound.orm_o01(header_for(destination, control_id, now), patient, order)
        messages.append(
            OutboundMessage(
                destination=destination,
                message_type="ORM",
                trigger_event="O01",
                control_id=control_id,
                raw=raw,
                sequence_key=order.accession_number,
                accession_number=order.accession_number,
                mrn=patient.mrn,
            )
        )
        log.info(
            "ORM^O01 %s %s for accession %s queued to %s (event %s)",
            control,
            control_id,
            order.accession_number,
            destination.name,
            event.pk,
        )
    return messages


def _report_messages(event: OutboxEvent, destinations: list[Destination], now: datetime) -> list[OutboundMessage]:
    """ORU^R01 with the report as it now reads (F on signing final, C with each signed addendum)."""
    if not destinations:
        return []
    report = (
        Report.objects.select_related("exam__order__patient", "exam__procedure_type", "signed_by")
        .filter(pk=event.payload.get("report_id"))
        .first()
    )
    if report is None or report.signed_by is None:
        log.warning("Outbox event %s: report %s is gone or not signed; nothing sent", event.pk, event.payload)
        return []
    exam, order = report.exam, report.exam.order
    signer = report.signed_by
    # The report as it read at the event: a late drain must not send an addendum signed after it.
    as_of = _local(event.payload.get("at")) or now
    addenda = list(report.addenda.filter(signed_at__isnull=False, signed_at__lte=as_of).select_related("author"))
    data = outbound.ReportData(
        accession_number=order.accession_number,
        filler_order_number=order.filler_order_number,
        filler_application=settings.RIS_HL7_APPLICATION,
        procedure_code=exam.procedure_type.code,
        procedure_name=exam.procedure_type.name,
        coding_scheme=settings.RIS_PROCEDURE_CODING_SCHEME,
        lines=report_lines(report, addenda),
        result_status=RESULT_STATUS[event.kind],
        radiologist=outbound.Physician(id=signer.npi, family_name=signer.last_name, given_name=signer.first_name),
        observed_at=timezone.localtime(report.signed_at),
        placer_order_number=order.placer_order_number,
        placer_application=order.placer_application,
        study_instance_uid=exam.study_instance_uid,
    )
    patient = patient_data(order.patient)
    messages = []
    for destination in destinations:
        control_id = control_id_new()
        messages.append(
            OutboundMessage(
                destination=destination,
                message_type="ORU",
                trigger_event="R01",
                control_id=control_id,
                raw=outbound.oru_r01(header_for(destination, control_id, now), patient, data),
                sequence_key=order.accession_number,
                accession_number=order.accession_number,
                mrn=patient.mrn,
            )
        )
        log.info("ORU^R01 %s for accession %s queued to %s", control_id, order.accession_number, destination.name)
    return messages


def header_for(destination: Destination, control_id: str, now: datetime) -> outbound.Header:
    return outbound.Header(
        control_id=control_id,
        timestamp=timezone.localtime(now),
        sending_application=settings.RIS_HL7_APPLICATION,
        sending_facility=settings.RIS_HL7_FACILITY,
        receiving_application=destination.receiving_application,
        receiving_facility=destination.receiving_facility,
    )


def patient_data(patient: Patient) -> outbound.PatientData:
    return outbound.PatientData(
        mrn=patient.mrn,
        mrn_issuer=patient.mrn_issuer,
        family_name=patient.family_name,
        given_name=patient.given_name,
        middle_name=patient.middle_name,
        name_suffix=patient.name_suffix,
        name_prefix=patient.name_prefix,
        birth_date=patient.birth_date,
        sex=patient.sex,
    )


def _local(value: str | None) -> datetime | None:
    parsed = parse_datetime(value) if value else None
    return timezone.localtime(parsed) if parsed is not None and timezone.is_aware(parsed) else parsed


def exam_order(exam: Exam, payload: dict, control: str) -> outbound.ExamOrder:
    """The exam as the event saw it: status and slot from the event, identifiers and procedure from the exam."""
    order = exam.order
    procedure = exam.procedure_type
    physician = order.referring_physician
    status = payload.get("status") or exam.status
    return outbound.ExamOrder(
        order_control=control,
        order_status=outbound.ORDER_STATUS.get(status, "SC"),
        accession_number=order.accession_number,
        requested_procedure_id=exam.requested_procedure_id,
        scheduled_procedure_step_id=exam.scheduled_procedure_step_id,
        study_instance_uid=exam.study_instance_uid,
        filler_order_number=order.filler_order_number,
        filler_application=settings.RIS_HL7_APPLICATION,
        placer_order_number=order.placer_order_number,
        placer_application=order.placer_application,
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        coding_scheme=settings.RIS_PROCEDURE_CODING_SCHEME,
        modality=procedure.modality.code,
        start=_local(payload.get("scheduled_start")),
        end=_local(payload.get("scheduled_end")),
        priority=outbound.PRIORITY.get(order.priority, "R"),
        transaction_at=_local(payload.get("at")),
        ordering_provider=(
            outbound.Physician(
                id=physician.npi or "", family_name=physician.family_name, given_name=physician.given_name
            )
            if physician is not None
            else None
        ),
        reason=order.reason,
        visit_number=order.admission_id,
    )
