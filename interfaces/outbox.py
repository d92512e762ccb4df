"""From outbox events to outbound HL7 messages: one OutboundMessage per enabled destination that takes the type.

Domain services record what changed (ris.services.outbox_add, in their own transaction); here each event becomes
its messages, built from the event's facts and the records as they are now, and is marked processed in the same
transaction. Events are taken in id order under a row lock, so the messages of one exam (one patient) are stored
(and later sent) in the order the changes happened.

A change an HL7 peer made (the event's actor is `HL7:<its MSH-3>`) is not sent back to the destination of that
name: it knows, and an echo could bounce between two systems.
"""

import logging
import secrets
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clinical.models import ClinicalStatus, Observation
from clinical.selectors import active_allergies, latest_observation
from interfaces import outbound
from interfaces.models import Destination, OutboundMessage
from reporting.models import Report
from reporting.text import addendum_lines, section_lines
from ris.models import OutboxEvent, Patient, ReferringPhysician, User
from scheduling.models import Exam

log = logging.getLogger(__name__)

# Event kinds turned into orders to the PACS and their ORC-1 order control (HL7 table 0119). An order change
# (priority, reason, physician) reaches each booked exam as an XO, as a reschedule does (IHE RAD-13).
ORDER_CONTROL = {
    "exam.booked": "NW",
    "exam.rescheduled": "XO",
    "exam.changed": "XO",
    "exam.cancelled": "CA",
    "exam.status": "SC",
}
# Exam statuses an SC tells of; report statuses reach the PACS as ORU, booking and cancelling have their own.
STATUS_CHANGES = frozenset({"ARRIVED", "IN_PROGRESS", "COMPLETED", "DISCONTINUED", "NO_SHOW"})
# Report events and the result status of their ORU^R01 (HL7 table 0085): final, corrected (an addendum).
RESULT_STATUS = {"report.final": "F", "report.addendum": "C"}
# Patient events and their ADT trigger (IHE RAD-12 Patient Update): A08 update, A40 merge.
PATIENT_TRIGGER = {"patient.updated": "A08", "patient.merged": "A40"}
HANDLED_KINDS = (*ORDER_CONTROL, *RESULT_STATUS, *PATIENT_TRIGGER)


def control_id_new() -> str:
    """MSH-10: 20 random hex characters, unique without a database round trip (OutboundMessage holds uniqueness)."""
    return secrets.token_hex(10)


def outbox_drain(*, batch_size: int = 200) -> int:
    """Turn unprocessed events into outbound messages; return how many events were processed.

    Kinds handled nowhere yet are left unprocessed, not lost. An event whose messages cannot be built is logged
    and kept, and later events of its exam (or patient) wait behind it.
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
            takers = {
                # Orders go to destinations taking "ORM" (or "OMI"), in the form each is set to (order_message).
                "orders": [d for d in enabled if d.takes("ORM") or d.takes("OMI")],
                "ORU": [d for d in enabled if d.takes("ORU")],
                "ADT": [d for d in enabled if d.takes("ADT")],
            }
            now = timezone.now()
            done, blocked = [], set()
            for event in events:
                key = _sequence_key(event.payload)
                if key and key in blocked:
                    continue
                try:
                    with transaction.atomic():
                        if event.kind in RESULT_STATUS:
                            messages = _report_messages(event, _recipients(takers["ORU"], event), now)
                        elif event.kind in PATIENT_TRIGGER:
                            messages = _patient_messages(event, _recipients(takers["ADT"], event), now)
                        else:
                            messages = _messages_for(event, _recipients(takers["orders"], event), now)
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


def _sequence_key(payload: dict) -> str:
    """What keeps messages in order: the exam's accession number, or the patient (ADT has no accession)."""
    if payload.get("accession_number"):
        return payload["accession_number"]
    return f"patient:{payload['patient_id']}" if payload.get("patient_id") else ""


def _recipients(destinations: list[Destination], event: OutboxEvent) -> list[Destination]:
    """The destinations to tell, less the HL7 peer whose own message made the change."""
    protocol, _, peer = (event.payload.get("actor") or "").partition(":")
    if protocol != "HL7" or not peer:
        return destinations
    return [d for d in destinations if d.name != peer]


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
        Exam.objects.select_related("order__patient", "order__referring_physician", "procedure_type__modality", "room")
        .filter(pk=payload.get("exam_id"))
        .first()
    )
    if exam is None:
        log.warning("Outbox event %s: exam %s is gone; nothing sent", event.pk, payload.get("exam_id"))
        return []
    patient = patient_data(exam.order.patient)
    order = exam_order(exam, payload, control)
    clinical = clinical_data(exam.order.patient)
    messages = []
    for destination in destinations:
        message_type, trigger, build = outbound.ORDER_FORMS.get(
            destination.order_message, outbound.ORDER_FORMS["ORM_O01"]
        )
        control_id = control_id_new()
        messages.append(
            OutboundMessage(
                destination=destination,
                message_type=message_type,
                trigger_event=trigger,
                control_id=control_id,
                raw=build(header_for(destination, control_id, now), patient, order, clinical),
                sequence_key=order.accession_number,
                accession_number=order.accession_number,
                mrn=patient.mrn,
            )
        )
        log.info(
            "%s^%s %s %s for accession %s queued to %s (event %s)",
            message_type,
            trigger,
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
        Report.objects.select_related("exam__order__patient", "exam__procedure_type__modality", "signed_by")
        .filter(pk=event.payload.get("report_id"))
        .first()
    )
    if report is None or report.signed_by is None:
        log.warning("Outbox event %s: report %s is gone or not signed; nothing sent", event.pk, event.payload)
        return []
    exam, order = report.exam, report.exam.order
    # The report as it read at the event: a late drain must not send an addendum signed after it.
    as_of = _local(event.payload.get("at")) or now
    addenda = list(
        report.addenda.filter(signed_at__isnull=False, signed_at__lte=as_of).select_related("author", "signed_by")
    )
    signed_at = timezone.localtime(report.signed_at)
    data = outbound.ReportData(
        accession_number=exam.accession_number,
        filler_order_number=order.filler_order_number,
        filler_application=settings.RIS_HL7_APPLICATION,
        procedure_code=exam.procedure_type.code,
        procedure_name=exam.procedure_type.name,
        coding_scheme=settings.RIS_PROCEDURE_CODING_SCHEME,
        lines=section_lines(report),
        addenda=[
            outbound.AddendumData(
                lines=["", *addendum_lines(addendum)],  # a blank line first, as on the PDF
                signed_at=timezone.localtime(addendum.signed_at),
                author=user_physician(addendum.signer),  # who signed it (its author: reporting.services)
            )
            for addendum in addenda
        ],
        result_status=RESULT_STATUS[event.kind],
        radiologist=user_physician(report.signed_by),
        observed_at=exam_performed_at(exam) or signed_at,
        signed_at=signed_at,
        placer_order_number=order.placer_order_number,
        placer_application=order.placer_application,
        study_instance_uid=exam.study_instance_uid,
        modality=exam.procedure_type.modality.code,
        visit_number=order.admission_id,
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
                sequence_key=exam.accession_number,
                accession_number=exam.accession_number,
                mrn=patient.mrn,
            )
        )
        log.info("ORU^R01 %s for accession %s queued to %s", control_id, exam.accession_number, destination.name)
    return messages


def _patient_messages(event: OutboxEvent, destinations: list[Destination], now: datetime) -> list[OutboundMessage]:
    """ADT^A08 with the patient as the RIS now holds them, or ADT^A40: the survivor in PID, the merged MRN in MRG."""
    if not destinations:
        return []
    payload = event.payload
    patient = Patient.objects.filter(pk=payload.get("patient_id")).first()
    if patient is None:
        log.warning("Outbox event %s: patient %s is gone; nothing sent", event.pk, payload.get("patient_id"))
        return []
    trigger = PATIENT_TRIGGER[event.kind]
    data = patient_data(patient)
    recorded_at = _local(payload.get("at")) or timezone.localtime(now)
    messages = []
    for destination in destinations:
        control_id = control_id_new()
        header = header_for(destination, control_id, now)
        if trigger == "A40":
            raw = outbound.adt_a40(
                header,
                data,
                prior_mrn=payload.get("prior_mrn") or "",
                prior_mrn_issuer=payload.get("prior_mrn_issuer") or "",
                recorded_at=recorded_at,
            )
        else:
            raw = outbound.adt_a08(header, data, recorded_at=recorded_at)
        messages.append(
            OutboundMessage(
                destination=destination,
                message_type="ADT",
                trigger_event=trigger,
                control_id=control_id,
                raw=raw,
                sequence_key=_sequence_key(payload),
                mrn=patient.mrn,
            )
        )
        log.info("ADT^%s %s for patient %s queued to %s", trigger, control_id, patient.pk, destination.name)
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


# Measurements an order to the PACS carries (OBX): the kind, its LOINC code and name, its UCUM unit and the unit's
# name; the value is in the stored unit of the kind (clinical.models.Observation.UNITS).
ORDER_MEASUREMENTS = (
    (Observation.Kind.WEIGHT, "29463-7", "Body weight", "kilogram"),
    (Observation.Kind.HEIGHT, "8302-2", "Body height", "centimeter"),
)


def clinical_data(patient: Patient) -> outbound.ClinicalData:
    """The patient's active allergies (or "no known allergies" when that is what was recorded) and latest body
    weight and height, as the orders to the PACS carry them."""
    allergies = [
        outbound.AllergyData(
            text=allergy.allergen_text,
            code=allergy.allergen_code,
            coding_system=allergy.allergen_coding_system,
            allergy_type=allergy.allergy_type,
            severity=allergy.severity,
            reaction=allergy.reaction,
            identified_on=allergy.identified_on,
        )
        for allergy in active_allergies(patient)
    ]
    status = ClinicalStatus.objects.filter(patient=patient).values_list("allergies", flat=True).first()
    measurements = []
    for kind, code, name, unit_name in ORDER_MEASUREMENTS:
        found = latest_observation(patient, kind)
        if found is not None:
            measurements.append(
                outbound.Measurement(
                    code=code,
                    name=name,
                    value=f"{found.value.normalize():f}",
                    unit=Observation.UNITS[kind],
                    unit_name=unit_name,
                    observed_at=timezone.localtime(found.observed_at),
                )
            )
    return outbound.ClinicalData(
        allergies=tuple(allergies),
        no_known_allergies=status == ClinicalStatus.Allergies.NONE_KNOWN,
        measurements=tuple(measurements),
    )


def referring_physician(physician: ReferringPhysician | None) -> outbound.Physician | None:
    """The XCN of a referring physician: the NPI with its authority and type NPI, else the local identifier
    with the authority and type it came with."""
    if physician is None:
        return None
    if physician.npi:
        return outbound.npi_physician(physician.npi, physician.family_name, physician.given_name)
    return outbound.Physician(
        id=physician.identifier,
        family_name=physician.family_name,
        given_name=physician.given_name,
        id_type=physician.identifier_type,
        authority=physician.identifier_authority,
    )


def user_physician(user: User) -> outbound.Physician:
    """A radiologist as an XCN: by NPI when the account has one, else by name only."""
    if user.npi:
        return outbound.npi_physician(user.npi, user.last_name, user.first_name)
    return outbound.Physician(family_name=user.last_name, given_name=user.first_name)


def exam_performed_at(exam: Exam) -> datetime | None:
    """OBR-7 of a report: when the exam was performed (started, else completed), else when it was booked for."""
    at = exam.started_at or exam.completed_at or exam.scheduled_start
    return timezone.localtime(at) if at is not None else None


def _local(value: str | None) -> datetime | None:
    parsed = parse_datetime(value) if value else None
    return timezone.localtime(parsed) if parsed is not None and timezone.is_aware(parsed) else parsed


def exam_order(exam: Exam, payload: dict, control: str) -> outbound.ExamOrder:
    """The exam as the event saw it: status and slot from the event, identifiers and procedure from the exam."""
    order = exam.order
    procedure = exam.procedure_type
    status = payload.get("status") or exam.status
    return outbound.ExamOrder(
        order_control=control,
        order_status=outbound.ORDER_STATUS.get(status, "SC"),
        accession_number=exam.accession_number,
        accession_issuer=exam.accession_issuer or settings.RIS_HL7_APPLICATION,
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
        ordering_provider=referring_physician(order.referring_physician),
        reason=order.reason,
        visit_number=order.admission_id,
        station_ae_title=exam.room.station_ae_title if exam.room is not None else "",
    )
