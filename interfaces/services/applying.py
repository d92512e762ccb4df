"""Applying inbound HL7 messages to the domain: patients (ADT), orders (ORM^O01 / OMI^O23), lab results (ORU^R01),
and the clinical data (AL1 allergies, OBX observations) ADT and ORM carry.

Each handler reads the message through interfaces.inbound (pure) and calls the domain services; it raises
MessageError (or lets ApplicationError through) for the receiving side to turn into an AE with its ERR segment.
"""

import logging
from collections.abc import Callable

from django.utils import timezone

from clinical.cis import BODY_MEASURES, LAB_AND_BODY_MEASURES, cis_allergies_replace, cis_observations_record
from interfaces import catalog, inbound
from interfaces.catalog import Catalog
from interfaces.hl7v2 import Header, MessageError, Reader
from interfaces.models import InboundMessage, Sender
from ris.audit import Interface
from ris.exceptions import ApplicationError
from ris.models import Patient, ProcedureType
from ris.selectors import mrn_issuer, patient_by_mrn, patients_by_mrn
from ris.services import patient_merge, patient_register, patient_update, physician_match_or_create
from ris.statements import Slot, Statement
from scheduling import services as scheduling
from scheduling.models import Exam, Order
from scheduling.selectors import order_by_number, rooms_for

log = logging.getLogger(__name__)


# --- applying: patients ----------------------------------------------------------------------------------------


def _actor(head: Header) -> Interface:
    return Interface("HL7", head.sending_application or "unknown")


def _survivor(patient: Patient) -> Patient:
    """The record a merged-away patient now lives on (following later merges too)."""
    seen = {patient.pk}
    while patient.merged_into_id is not None and patient.merged_into_id not in seen:
        patient = patient.merged_into
        seen.add(patient.pk)
    return patient


UNREAD = object()  # _patient_upsert's `existing` when the caller has not looked the patient up


def _patient_upsert(
    data: inbound.PatientData, actor: Interface, warnings: list[MessageError], existing=UNREAD
) -> Patient:
    """Register the patient, or update what the message carries (HL7: an empty field means "no change").

    A message that still names a record merged away (ADT^A40) reaches the survivor, but the retired record's
    demographics never overwrite the survivor's: the sender hears so in a warning. `existing`: the record the
    caller found by the MRN already (or None).
    """
    if existing is UNREAD:
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
        survivor = _survivor(existing)
        warnings.append(
            MessageError(
                f"MRN {data.mrn} was merged into MRN {survivor.mrn}; the message was applied to that record, "
                "its demographics were not.",
                code=0,
                location=("PID", 1, 3),
                severity="W",
            )
        )
        return survivor
    changes = {k: v for k, v in data.fields().items() if v not in ("", None) and getattr(existing, k) != v}
    if changes:
        return patient_update(patient=existing, acting_user=actor, reason="HL7 update", **changes)
    return existing


def _adt_patient(reader: Reader, head: Header, row: InboundMessage, *, optimistic: bool) -> list[MessageError]:
    """ADT^A01 / A04 register (or update a known patient); A08 / A31 update (or register an unknown one)."""
    data = inbound.patient(reader)
    row.mrn = data.mrn[:64]
    warnings: list[MessageError] = []
    patient = _patient_upsert(data, _actor(head), warnings)
    return warnings + _clinical(reader, head, patient)


def _clinical(reader: Reader, head: Header, patient: Patient) -> list[MessageError]:
    """AL1 and OBX of an ADT or ORM: the CIS's allergy list (replaced only when the message has AL1 segments) and
    body weight and height (any other OBX stored as received)."""
    actor = _actor(head)
    listed = inbound.allergies(reader)
    if listed.sent:
        cis_allergies_replace(
            patient=patient,
            allergies=listed.allergies,
            no_known_allergies=listed.no_known_allergies,
            acting_user=actor,
        )
    tz = timezone.get_current_timezone()
    found, warnings = inbound.observations(reader, tz=tz, default_time=inbound.message_time(reader, tz=tz))
    if found:
        cis_observations_record(
            patient=patient,
            observations=found,
            acting_user=actor,
            message_control_id=head.control_id,
            kinds=BODY_MEASURES,
        )
    return listed.warnings + warnings


def _oru(reader: Reader, head: Header, row: InboundMessage, *, optimistic: bool) -> list[MessageError]:
    """ORU^R01 lab results: the patient (PID-3) found, or registered as an ORM registers one; each OBX stored (eGFR,
    creatinine, weight and height as their kind, any other as received); an OBR group with a creatinine but no
    eGFR gets one computed."""
    data = inbound.patient(reader)
    row.mrn = data.mrn[:64]
    warnings: list[MessageError] = []
    actor = _actor(head)
    patient = _patient_upsert(data, actor, warnings)
    tz = timezone.get_current_timezone()
    found, read_warnings = inbound.observations(reader, tz=tz, default_time=inbound.message_time(reader, tz=tz))
    cis_observations_record(
        patient=patient,
        observations=found,
        acting_user=actor,
        message_control_id=head.control_id,
        kinds=LAB_AND_BODY_MEASURES,
        compute_egfr=True,
    )
    return warnings + read_warnings


def _adt_merge(reader: Reader, head: Header, row: InboundMessage, *, optimistic: bool) -> list[MessageError]:
    """ADT^A40: the MRG-1 record is merged into the PID-3 one (its orders, exams and reports move)."""
    data = inbound.patient(reader)
    row.mrn = data.mrn[:64]
    prior_mrn, prior_issuer = inbound.prior_patient(reader)
    source = patient_by_mrn(prior_mrn, prior_issuer)
    if source is None:
        raise MessageError(f"No patient with MRN {prior_mrn} to merge.", code=204, location=("MRG", 1, 1))
    warnings: list[MessageError] = []
    target = _patient_upsert(data, _actor(head), warnings)
    patient_merge(source=source, target=target, acting_user=_actor(head))
    return warnings


# --- applying: orders ------------------------------------------------------------------------------------------


# HL7 table 0074 diagnostic service sections (OBR-24) that name imaging of one kind, and the DICOM modalities each
# covers. Generic ones (RAD radiology, IMG, OTH ...) say nothing: the catalog's modality holds. Some senders put a
# DICOM modality code there instead, which is read as itself.
SERVICE_SECTIONS = {
    "CT": {"CT"},
    "NMR": {"MR"},
    "NMS": {"NM", "PT"},
    "RUS": {"US"},
    "OUS": {"US"},
    "VUS": {"US"},
    "CUS": {"US"},
    "RX": {"CR", "DX", "MG", "RF"},
    "XRC": {"RF", "XA"},
    "CTH": {"XA"},
    **{code: {code} for code in ("MR", "US", "CR", "DX", "MG", "NM", "PT", "XA", "RF")},
}


def _procedure_type(request: inbound.ProcedureRequest, known: Catalog) -> ProcedureType:
    """OBR-4 in the catalog: its code (any case), else its alternate code (OBR-4.4), else the CPT code either
    carries, where exactly one active procedure has it."""
    codes = [code for code in (request.code, request.alternate_code) if code]
    for code in codes:
        found = known.procedure(code)
        if found is not None:
            return found
    for code in codes:
        by_cpt = known.procedures_with_cpt(code)
        if len(by_cpt) == 1:
            return by_cpt[0]
        if by_cpt:
            raise MessageError(
                f"CPT code {code} names several procedures of the catalog; send the department's procedure code.",
                code=103,
                location=("OBR", request.sequence, 4),
            )
    raise MessageError(
        f"Procedure code {request.code!r} is not in the catalog.", code=103, location=("OBR", request.sequence, 4)
    )


def _procedure_types(data: inbound.OrderData, known: Catalog, warnings: list[MessageError]) -> list[ProcedureType]:
    found = []
    for request in data.procedures:
        procedure = _procedure_type(request, known)
        modalities = SERVICE_SECTIONS.get(request.service_section)
        if modalities is not None and procedure.modality.code not in modalities:
            warnings.append(
                MessageError(
                    f"OBR-24 {request.service_section} does not fit {procedure.code}, a {procedure.modality.code} "
                    "procedure; the catalog's modality was used.",
                    code=0,
                    location=("OBR", request.sequence, 24),
                    severity="W",
                )
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


def _schedule(order: Order, data: inbound.OrderData, actor: Interface) -> list[MessageError]:
    """ORC-5 SC with a start time: book each exam still waiting (or move a booked one) to that time.

    Never in the past, and never silently: an exam not booked is left for the front desk, and the sender is told.
    """
    if data.order_status != "SC":
        return []
    warnings = []
    now = timezone.now()
    exams = list(order.exams.select_related("procedure_type").order_by("id"))
    for exam, request in zip(exams, data.procedures, strict=False):
        if request.start is None or exam.status not in (Exam.Status.ORDERED, Exam.Status.SCHEDULED):
            continue
        if exam.scheduled_start == request.start:
            continue
        if scheduling.booking_in_past_refusal(request.start, now):  # the booking service's rule, said for HL7
            why = f"requested start {timezone.localtime(request.start):%Y-%m-%d %H:%M} is in the past"
        elif not _book_where_free(exam, request.start, actor):
            why = "no room is free at the requested start"
        else:
            continue
        log.info("HL7: exam %s not booked (%s); left for the front desk", exam.pk, why)
        warnings.append(
            MessageError(
                f"{exam.label}: {why}: not booked, left for the front desk.",
                code=0,
                location=request.start_field or ("OBR", request.sequence, 27),
                severity="W",
            )
        )
    return warnings


def _sender(head: Header, known: Catalog) -> Sender | None:
    """The configured sender of this message (by MSH-3, and MSH-4 where the configuration names one)."""
    sender = known.sender(head.sending_application)
    return sender if sender is not None and head.sent_by(sender.name, sender.facility) else None


def _accession_numbers(data: inbound.OrderData, sender: Sender | None) -> tuple[list[str], str]:
    """The sender's accession numbers (IPC-1 / OBR-18) and their namespace, only from a sender configured to
    assign them (IHE RAD-2: the Order Filler assigns accession numbers; OBR-18 is the placer's own field)."""
    if sender is None or not sender.assigns_accession_numbers:
        return [], ""
    return [request.accession_number for request in data.procedures], sender.accession_namespace


# patients_by_mrn with the catalog's stamp beside, compiled to SQL once per process (the compiler cost more CPU than
# PostgreSQL's answer on the path every order takes).
_PATIENT_AND_STAMP = Statement(
    lambda: patients_by_mrn(Slot("mrn"), Slot("issuer")).annotate(catalog_stamp=catalog.stamp_of()).order_by("pk")[:1]
)


def _patient_and_catalog(data: inbound.PatientData) -> tuple[Patient | None, Catalog]:
    """The patient the MRN names (or None) and the catalog, whose stamp is read with the patient: one statement for
    a known patient, the catalog from this process's cache while its stamp holds."""
    existing = _PATIENT_AND_STAMP.first(mrn=data.mrn, issuer=mrn_issuer(data.mrn_issuer))
    stamp = existing.catalog_stamp if existing is not None else catalog.stamp_read()
    return existing, catalog.catalog_for(stamp)


def _order_create(
    reader: Reader, head: Header, data: inbound.OrderData, actor: Interface, *, optimistic: bool
) -> tuple[Order, list]:
    """NW: the patient (registered or updated), the physician, the order with its exams, and their booking."""
    warnings: list[MessageError] = []
    patient_data = inbound.patient(reader)
    existing, known = _patient_and_catalog(patient_data)
    patient = _patient_upsert(patient_data, actor, warnings, existing)
    provider = data.ordering_provider
    physician = physician_match_or_create(acting_user=actor, **provider.physician_fields()) if provider else None
    accession_numbers, issuer = _accession_numbers(data, _sender(head, known))
    try:
        order = scheduling.order_create(
            optimistic=optimistic,
            patient=patient,
            procedure_types=_procedure_types(data, known, warnings),
            acting_user=actor,
            referring_physician=physician,
            priority=data.priority,
            reason=data.reason,
            diagnosis_codes=data.diagnosis_codes,
            placer_order_number=data.placer_order_number,
            placer_application=data.placer_application,
            accession_numbers=accession_numbers,
            accession_issuer=issuer,
            admission_id=data.admission_id,
            patient_class=data.patient_class,
            study_instance_uids=[request.study_instance_uid for request in data.procedures],
            # The order comes from a clinician's CPOE: a procedure outside its catalog limits for the patient is
            # not refused (the order would be lost), but accepted, recorded, and answered with a warning.
            override_reason=f"ordered through the ordering system ({actor}); accepted with a warning in the ACK",
        )
    except ApplicationError as error:
        if error.field == "placer_order_number":
            raise MessageError(error.message, code=205, location=("ORC", 1, 2)) from None
        if error.field == "study_instance_uid":  # in use by another exam, or twice in the order
            sent = [r for r in data.procedures if r.study_instance_uid_field]
            named = [r for r in sent if f" {r.study_instance_uid} " in f" {error.message} "]
            request = (named or sent or data.procedures)[0]
            location = request.study_instance_uid_field or ("OBR", request.sequence, 0)
            raise MessageError(error.message, code=205, location=location) from None
        if error.field == "accession_number":
            named = [r for r in data.procedures if r.accession_number and r.accession_number in error.message]
            number = (named or data.procedures)[0]
            segment = "IPC" if reader.segments("IPC") else "OBR"
            raise MessageError(
                error.message, code=205, location=(segment, number.sequence, 1 if segment == "IPC" else 18)
            ) from None
        raise
    warnings += _clinical(reader, head, patient)
    return order, warnings + _implausible(order, data) + _schedule(order, data, actor)


def _implausible(order: Order, data: inbound.OrderData) -> list[MessageError]:
    """A warning (ERR severity W) when the order holds procedures outside their sex or age limits for the patient."""
    if not order.plausibility_override:
        return []
    exams = order.exams.select_related("procedure_type").order_by("id")  # in the order of the OBRs
    named = [
        request
        for exam, request in zip(exams, data.procedures, strict=False)
        if f"{exam.procedure_type.code} {exam.procedure_type.name}: " in order.plausibility_override
    ]
    sequence = (named or data.procedures)[0].sequence
    log.info("HL7: order %s accepted outside the catalog's sex or age limits", order.pk)
    return [
        MessageError(
            f"Accepted, but not plausible for this patient: {order.plausibility_override}",
            code=0,
            location=("OBR", sequence, 4),
            severity="W",
        )
    ]


def _same_patient(order: Order, patient_data: inbound.PatientData | None) -> None:
    """A change or cancel that carries a PID must name the order's patient (or a record merged into it)."""
    if patient_data is None:
        return
    named = patient_by_mrn(patient_data.mrn, patient_data.mrn_issuer)
    if named is not None and _survivor(named).pk != _survivor(order.patient).pk:
        raise MessageError(
            f"Order {order.placer_order_number or order.filler_order_number} belongs to another patient than "
            f"MRN {patient_data.mrn}.",
            code=204,
            location=("PID", 1, 3),
        )


def _orm(reader: Reader, head: Header, row: InboundMessage, *, optimistic: bool) -> list[MessageError]:
    """ORM^O01 / OMI^O23, by order control (ORC-1). Only a new order (NW) needs the patient (PID); the patient
    group is optional in ORM^O01, and a cancel or change names the order by ORC-2 / ORC-3 alone.

    optimistic: the receiving side rolls the whole transaction back on any failure and applies the message again
    without it (a new order then takes no savepoint: see scheduling.services.order_create)."""
    tz = timezone.get_current_timezone()
    data = inbound.order(reader, sending_application=head.sending_application, tz=tz)
    actor = _actor(head)
    if data.control == "NW":
        order, warnings = _order_create(reader, head, data, actor, optimistic=optimistic)
        row.mrn = order.patient.mrn[:64]
        row.accession_number = order.accession_number
        return warnings
    patient_data = inbound.patient(reader, required=False)
    order = _existing_order(data)
    _same_patient(order, patient_data)
    row.mrn = (patient_data.mrn if patient_data else order.patient.mrn)[:64]
    row.accession_number = order.accession_number
    warnings = CONTROLS[data.control](order, data, actor)
    return warnings + _clinical(reader, head, _survivor(order.patient))


def _cancel(order: Order, data: inbound.OrderData, actor: Interface) -> list[MessageError]:
    """CA: every exam not started is cancelled; an exam under way cannot be (AE)."""
    for exam in order.exams.select_related("procedure_type").order_by("id"):
        if exam.status in (Exam.Status.ORDERED, Exam.Status.SCHEDULED, Exam.Status.ARRIVED):
            scheduling.exam_cancel(exam=exam, reason="Cancelled by the ordering system (ORC-1 CA)", acting_user=actor)
        elif exam.status not in (Exam.Status.CANCELLED, Exam.Status.NO_SHOW, Exam.Status.DISCONTINUED):
            raise MessageError(
                f"Exam {exam.label} is {exam.get_status_display().lower()}: "
                "it cannot be cancelled; send DC to discontinue it.",
                code=207,
                location=("ORC", 1, 1),
            )
    return []


def _discontinue(order: Order, data: inbound.OrderData, actor: Interface) -> list[MessageError]:
    """DC: exams not started are cancelled, exams under way discontinued."""
    reason = "Discontinued by the ordering system (ORC-1 DC)"
    for exam in order.exams.order_by("id"):
        if exam.status in (Exam.Status.ORDERED, Exam.Status.SCHEDULED, Exam.Status.ARRIVED):
            scheduling.exam_cancel(exam=exam, reason=reason, acting_user=actor)
        elif exam.status == Exam.Status.IN_PROGRESS:
            scheduling.exam_discontinue(exam=exam, reason=reason, acting_user=actor)
    return []


def _change(order: Order, data: inbound.OrderData, actor: Interface) -> list[MessageError]:
    """XO: priority, reason, diagnoses and patient class (PV1-2) as now sent; a new start time (ORC-5 SC) moves
    the booking."""
    changes = {"priority": data.priority}
    if data.reason:
        changes["reason"] = data.reason
    if data.diagnosis_codes:
        changes["diagnosis_codes"] = data.diagnosis_codes
    if data.patient_class:
        changes["patient_class"] = data.patient_class
    scheduling.order_update(order=order, acting_user=actor, note="changed by the ordering system (ORC-1 XO)", **changes)
    return _schedule(order, data, actor)


def _status_change(order: Order, data: inbound.OrderData, actor: Interface) -> list[MessageError]:
    """SC: with ORC-5 SC and a start time the exams are booked then; other statuses are the RIS's to set."""
    return _schedule(order, data, actor)


CONTROLS: dict[str, Callable[[Order, inbound.OrderData, Interface], list[MessageError]]] = {
    "CA": _cancel,
    "DC": _discontinue,
    "XO": _change,
    "SC": _status_change,
}

# A handler applies the message (raising MessageError or ApplicationError to refuse it) and returns the warnings
# the sender should hear of although the message was applied (ERR with severity W), or None. With optimistic=True
# any failure spoils the caller's transaction, which is then rolled back and the message applied again without.
HANDLERS: dict[tuple[str, str], Callable[..., list[MessageError] | None]] = {
    ("ADT", "A01"): _adt_patient,
    ("ADT", "A04"): _adt_patient,
    ("ADT", "A08"): _adt_patient,
    ("ADT", "A31"): _adt_patient,
    ("ADT", "A40"): _adt_merge,
    ("ORM", "O01"): _orm,
    ("OMI", "O23"): _orm,
    ("ORU", "R01"): _oru,
}
