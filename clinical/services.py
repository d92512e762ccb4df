"""Writes of clinical data and safety decisions. Each runs in a transaction and leaves a history row naming the
user or interface. (The CIS's replacements are in clinical.cis, the protocol in clinical.protocols, the MR
screening in clinical.mr, the technologist's record in clinical.documentation.)"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import models, transaction
from django.utils import timezone

from clinical import egfr
from clinical.models import (
    Allergy,
    ClinicalStatus,
    ExamProtocol,
    MedicalAlert,
    Observation,
    PregnancyRecord,
    SafetyFlag,
    Source,
)
from clinical.safety import findings_for
from ris.audit import Actor, actor_label, attribute
from ris.exceptions import ApplicationError
from ris.models import ContrastClass, Patient
from ris.roles import user_roles
from ris.services import validated_or_raise
from scheduling.models import Exam

Kind = Observation.Kind

# Units each kind is stored in, and the factors from the spellings senders use.
_WEIGHT_TO_KG = {
    "kg": Decimal(1),
    "kgs": Decimal(1),
    "kilogram": Decimal(1),
    "g": Decimal("0.001"),
    "lb": Decimal("0.45359237"),
    "lbs": Decimal("0.45359237"),
    "[lb_av]": Decimal("0.45359237"),
}
_HEIGHT_TO_CM = {
    "cm": Decimal(1),
    "m": Decimal(100),
    "mm": Decimal("0.1"),
    "in": Decimal("2.54"),
    "[in_i]": Decimal("2.54"),
    "[in_us]": Decimal("2.54"),
    "inch": Decimal("2.54"),
}


def converted(kind: str, value: Decimal, unit: str) -> Decimal | None:
    """`value` in `unit` as the stored unit of `kind` (Observation.UNITS), or None when the unit is not known."""
    spelled = unit.strip().lower()
    if kind == Kind.WEIGHT:
        factor = _WEIGHT_TO_KG.get(spelled)
    elif kind == Kind.HEIGHT:
        factor = _HEIGHT_TO_CM.get(spelled)
    elif kind == Kind.CREATININE:
        return egfr.creatinine_mg_dl(value, unit)
    elif kind == Kind.EGFR:
        compact = spelled.replace(" ", "").replace("²", "2")
        factor = Decimal(1) if compact.startswith("ml/min") or not compact else None
    else:
        factor = Decimal(1)
    return None if factor is None else value * factor


def _decimal(text) -> Decimal | None:
    try:
        number = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


@transaction.atomic
def observation_record(
    *,
    patient: Patient,
    kind: str,
    value_text: str,
    unit: str,
    observed_at: datetime,
    acting_user: Actor,
    source: str = Source.STAFF,
    code: str = "",
    coding_system: str = "",
    name: str = "",
    abnormal_flags: str = "",
    result_status: str = "",
    message_control_id: str = "",
    number: str | None = None,
) -> Observation:
    """Store one observation as received; a value of a known kind is also kept in its stored unit (a value or a
    unit that cannot be read leaves `value` empty: kept, never refused). `number` is the text to read the value
    from when it is not `value_text` itself (an HL7 SN ">60" is read as 60; "" stores no value, as for a result
    that could not be obtained). An eGFR from a creatinine is `egfr_compute`'s."""
    number = _decimal(value_text if number is None else number)
    value = converted(kind, number, unit) if number is not None else None
    row = Observation(
        patient=patient,
        kind=kind,
        code=code[:64],
        coding_system=coding_system[:32],
        name=name[:255],
        value=value.quantize(Decimal("0.0001")) if value is not None else None,
        unit=Observation.UNITS.get(kind, unit[:32]) if value is not None else "",
        value_text=str(value_text)[:1024],
        unit_received=unit[:64],
        abnormal_flags=abnormal_flags[:16],
        result_status=result_status[:1],
        observed_at=observed_at,
        source=source,
        message_control_id=message_control_id[:64],
    )
    validated_or_raise(row)
    attribute(row, acting_user, f"{row.get_kind_display().lower()} recorded")
    row.save()
    return row


@transaction.atomic
def egfr_compute(*, creatinine: Observation, acting_user: Actor) -> Observation | None:
    """The eGFR of a creatinine result by CKD-EPI 2021 (marked computed), or None where it does not apply."""
    patient = creatinine.patient
    if creatinine.value is None or patient.birth_date is None:
        return None
    on = timezone.localdate(creatinine.observed_at)
    born = patient.birth_date
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    value = egfr.ckd_epi_2021(creatinine.value, age_years=age, sex=patient.sex)
    if value is None:
        return None
    row = Observation(
        patient=patient,
        kind=Kind.EGFR,
        name="eGFR (CKD-EPI 2021, computed from creatinine)",
        value=value,
        unit=Observation.UNITS[Kind.EGFR],
        value_text=f"{value}",
        observed_at=creatinine.observed_at,
        source=Source.COMPUTED,
        computed=True,
        derived_from=creatinine,
        message_control_id=creatinine.message_control_id,
    )
    attribute(row, acting_user, "eGFR computed from creatinine")
    row.save()
    return row


def _status(patient: Patient) -> ClinicalStatus:
    status, _created = ClinicalStatus.objects.select_for_update().get_or_create(patient=patient)
    return status


def allergies_status_set(*, patient: Patient, acting_user: Actor, status: str, source: str = Source.STAFF) -> None:
    """Record what the allergy question was answered with (no known allergies, listed) or that it was not asked."""
    row = _status(patient)
    if (row.allergies, row.allergies_source) == (status, source):
        return
    row.allergies, row.allergies_source = status, source
    attribute(row, acting_user, f"allergies: {row.get_allergies_display().lower()}")
    row.save()


@transaction.atomic
def allergy_add(
    *,
    patient: Patient,
    allergen_text: str,
    acting_user: Actor,
    allergy_type: str = Allergy.Type.DRUG,
    contrast_class: str = ContrastClass.NONE,
    severity: str = Allergy.Severity.UNKNOWN,
    reaction: str = "",
    allergen_code: str = "",
    allergen_coding_system: str = "",
    identified_on: date | None = None,
    source: str = Source.STAFF,
) -> Allergy:
    """Add an allergy or intolerance; the patient's allergies are then "listed"."""
    row = Allergy(
        patient=patient,
        allergen_text=allergen_text.strip() or allergen_code.strip(),
        allergen_code=allergen_code.strip(),
        allergen_coding_system=allergen_coding_system.strip(),
        allergy_type=allergy_type,
        contrast_class=contrast_class,
        severity=severity,
        reaction=reaction.strip(),
        identified_on=identified_on,
        source=source,
    )
    validated_or_raise(row)
    attribute(row, acting_user, "allergy recorded")
    row.save()
    allergies_status_set(patient=patient, acting_user=acting_user, status=ClinicalStatus.Allergies.LISTED)
    return row


@transaction.atomic
def pregnancy_record(
    *,
    patient: Patient,
    status: int,
    acting_user: Actor,
    last_menstrual_period: date | None = None,
    exam: Exam | None = None,
    note: str = "",
    at: datetime | None = None,
) -> PregnancyRecord:
    """Record a pregnancy status as asked or tested now (DICOM 0010,21C0 values), with who recorded it."""
    if last_menstrual_period is not None and last_menstrual_period > timezone.localdate(at or timezone.now()):
        raise ApplicationError("The last menstrual period cannot be in the future.", field="last_menstrual_period")
    row = PregnancyRecord(
        patient=patient,
        status=status,
        last_menstrual_period=last_menstrual_period,
        recorded_at=at or timezone.now(),
        recorded_by=actor_label(acting_user),
        exam=exam,
        note=note.strip()[:255],
    )
    validated_or_raise(row)
    attribute(row, acting_user, "pregnancy status recorded")
    row.save()
    return row


@transaction.atomic
def safety_flag_decide(
    *, exam: Exam, kind: str, key: str, decision: str, reason: str, acting_user: Actor
) -> SafetyFlag:
    """Record a decision on one current finding of the exam. Who may decide, and what, is the finding's; a reason
    is required. "Change to non-contrast" sets the exam's protocol to no contrast; "cancel" cancels the exam."""
    from scheduling.services import exam_cancel

    exam = Exam.objects.select_for_update().select_related("order__patient", "procedure_type__modality").get(pk=exam.pk)
    finding = next((f for f in findings_for(exam) if (f.kind, f.key) == (kind, key)), None)
    if finding is None:
        raise ApplicationError("This safety flag no longer applies: the data changed. Reload the page.")
    if not user_roles(acting_user) & finding.deciders:
        who = " or ".join(sorted(role.label.lower() for role in finding.deciders))
        raise ApplicationError(f"Only a {who} can decide on this flag.")
    if decision not in finding.decisions:
        allowed = ", ".join(SafetyFlag.Decision(choice).label.lower() for choice in finding.decisions) or "none"
        raise ApplicationError(f"That decision is not possible here (possible: {allowed}).", field="decision")
    reason = reason.strip()
    if not reason:
        raise ApplicationError("Give the reason for the decision.", field="reason")
    flag, _created = SafetyFlag.objects.select_for_update().get_or_create(
        exam=exam, kind=kind, key=key, defaults={"detail": finding.detail[:255]}
    )
    if flag.decision:
        raise ApplicationError("This flag was already decided.")
    flag.decision, flag.reason = decision, reason
    flag.decided_by, flag.decided_at = acting_user, timezone.now()
    attribute(flag, acting_user, f"safety decision: {flag.get_decision_display().lower()}")
    flag.save()
    if decision == SafetyFlag.Decision.NON_CONTRAST:
        _protocol_without_contrast(exam, acting_user, reason)
    elif decision == SafetyFlag.Decision.CANCEL:
        exam_cancel(exam=exam, reason=f"safety decision: {reason}", acting_user=acting_user)
    return flag


def _protocol_without_contrast(exam: Exam, acting_user: Actor, reason: str) -> None:
    protocol = ExamProtocol.objects.filter(exam=exam).first() or ExamProtocol(exam=exam)
    protocol.contrast, protocol.contrast_agent, protocol.contrast_route = ContrastClass.NONE, "", ""
    note = f"Changed to non-contrast: {reason}"
    protocol.notes = f"{protocol.notes}\n{note}".strip() if protocol.notes else note
    protocol.protocoled_by, protocol.protocoled_at = acting_user, timezone.now()
    attribute(protocol, acting_user, "changed to non-contrast")
    protocol.save()


# --- staff entry on the patient's clinical page ---------------------------------------------------------------------


class EndReason(models.TextChoices):
    """Why an allergy or alert stops being active (kept, inactive, with the reason in its history)."""

    ENTERED_IN_ERROR = "ENTERED_IN_ERROR", "Entered in error"
    RESOLVED = "RESOLVED", "Resolved"


# Values no person has: refused as typing errors (the heaviest recorded people weighed about 635 kg, the tallest
# measured about 272 cm).
WEIGHT_MAX_KG = Decimal(650)
HEIGHT_MAX_CM = Decimal(280)
HEIGHT_MIN_CM = Decimal(20)
_MEASURED = {Kind.WEIGHT: "weight", Kind.HEIGHT: "height"}

Allergies = ClinicalStatus.Allergies


def _active_allergies(patient: Patient):
    return Allergy.objects.filter(patient=patient, active=True)


@transaction.atomic
def allergy_update(
    *,
    allergy: Allergy,
    acting_user: Actor,
    allergen_text: str,
    allergy_type: str,
    contrast_class: str,
    severity: str,
    reaction: str = "",
    identified_on: date | None = None,
) -> Allergy:
    """Correct an active allergy entered in the department; the CIS's own are corrected in the CIS (its next
    message would replace them)."""
    allergy = Allergy.objects.select_for_update().get(pk=allergy.pk)
    if not allergy.active:
        raise ApplicationError("This allergy is no longer active: record it again if it applies.")
    if allergy.source == Source.CIS:
        raise ApplicationError(
            "This allergy comes from the clinical information system: correct it there, or mark it entered in error."
        )
    allergen_text = allergen_text.strip() or allergy.allergen_code
    if not allergen_text:
        raise ApplicationError("Name the allergen.", field="allergen_text")
    allergy.allergen_text, allergy.allergy_type, allergy.contrast_class = allergen_text, allergy_type, contrast_class
    allergy.severity, allergy.reaction, allergy.identified_on = severity, reaction.strip(), identified_on
    validated_or_raise(allergy)
    attribute(allergy, acting_user, "allergy corrected")
    allergy.save()
    return allergy


@transaction.atomic
def allergy_deactivate(*, allergy: Allergy, reason: str, acting_user: Actor, note: str = "") -> Allergy:
    """Mark an allergy entered in error or resolved: kept, inactive, the reason in its history. Once none is
    active the question counts as not asked again (an empty list is not "no known allergies")."""
    allergy = _end(Allergy, allergy, "allergy", reason, note, acting_user)
    if not _active_allergies(allergy.patient).exists():
        allergies_status_set(patient=allergy.patient, acting_user=acting_user, status=Allergies.NOT_ASKED)
    return allergy


@transaction.atomic
def allergies_answer(*, patient: Patient, status: str, acting_user: Actor) -> None:
    """Record the answer to "any allergies?" as "no known allergies", or set it back to "not asked". Neither is
    possible while allergies are listed: end those first."""
    if status not in (Allergies.NONE_KNOWN, Allergies.NOT_ASKED):
        raise ApplicationError('Record allergies one by one; here only "no known allergies" or "not asked".')
    _status(patient)  # the lock: no allergy is added meanwhile
    if _active_allergies(patient).exists():
        label = Allergies(status).label.lower()
        raise ApplicationError(
            f'Allergies are listed for this patient: mark them entered in error or resolved before recording "{label}".'
        )
    allergies_status_set(patient=patient, acting_user=acting_user, status=status)


@transaction.atomic
def alert_add(*, patient: Patient, code: str, acting_user: Actor, text: str = "") -> MedicalAlert:
    """Add a medical alert (coded, with free text; "Other" needs the text)."""
    text = text.strip()
    if code == MedicalAlert.Code.OTHER and not text:
        raise ApplicationError("Describe the alert (required for Other).", field="text")
    row = MedicalAlert(patient=patient, code=code, text=text, source=Source.STAFF)
    validated_or_raise(row)
    attribute(row, acting_user, "alert recorded")
    row.save()
    return row


@transaction.atomic
def alert_deactivate(*, alert: MedicalAlert, reason: str, acting_user: Actor, note: str = "") -> MedicalAlert:
    """Mark an alert entered in error or resolved: kept, inactive, the reason in its history."""
    return _end(MedicalAlert, alert, "alert", reason, note, acting_user)


def _end(model, record, what: str, reason: str, note: str, acting_user: Actor):
    """Make an allergy or alert inactive (locked), with why (entered in error, resolved) and a note in its history."""
    record = model.objects.select_for_update().get(pk=record.pk)
    if reason not in EndReason.values:
        raise ApplicationError(f"Say whether the {what} was entered in error or has resolved.", field="reason")
    if not record.active:
        raise ApplicationError(f"This {what} is already inactive.")
    record.active = False
    note = note.strip()
    attribute(record, acting_user, f"{EndReason(reason).label.lower()}{': ' + note if note else ''}")
    record.save()
    return record


@transaction.atomic
def measurement_record(
    *, patient: Patient, kind: str, value: Decimal, measured_at: datetime, acting_user: Actor
) -> Observation:
    """Record a weight (kg) or height (cm) measured by staff, with when it was measured; impossible values and
    dates in the future are refused."""
    what = _MEASURED.get(kind)
    if what is None:
        raise ApplicationError("Only a weight or a height can be entered here.", field="kind")
    if value is None or not value.is_finite() or value <= 0:
        raise ApplicationError(f"Enter the {what}: a number above zero.", field="value")
    if kind == Kind.WEIGHT and value > WEIGHT_MAX_KG:
        raise ApplicationError(f"{value} kg is not a possible weight (at most {WEIGHT_MAX_KG} kg).", field="value")
    if kind == Kind.HEIGHT and not HEIGHT_MIN_CM <= value <= HEIGHT_MAX_CM:
        raise ApplicationError(
            f"{value} cm is not a possible height (between {HEIGHT_MIN_CM} and {HEIGHT_MAX_CM} cm).", field="value"
        )
    if measured_at > timezone.now():
        raise ApplicationError("The date measured cannot be in the future.", field="measured_at")
    if patient.birth_date and timezone.localdate(measured_at) < patient.birth_date:
        raise ApplicationError("The date measured is before the patient was born.", field="measured_at")
    unit = Observation.UNITS[kind]
    return observation_record(
        patient=patient,
        kind=kind,
        value_text=f"{value.normalize():f}",
        unit=unit,
        observed_at=measured_at,
        acting_user=acting_user,
        source=Source.STAFF,
        name=f"Body {what} (entered)",
    )


@transaction.atomic
def pregnancy_status_at_check_in(
    *,
    exam: Exam,
    status: int,
    acting_user: Actor,
    last_menstrual_period: date | None = None,
    note: str = "",
    early_reason: str = "",
    check_in: bool = True,
    at: datetime | None = None,
) -> PregnancyRecord:
    """The front desk asks the patient at check-in: record her pregnancy status for the exam and check her in, in one
    transaction (a refused check-in records nothing). `check_in=False` records it for a patient already checked in."""
    from scheduling.services import exam_check_in

    record = pregnancy_record(
        patient=exam.order.patient,
        status=status,
        acting_user=acting_user,
        last_menstrual_period=last_menstrual_period,
        exam=exam,
        note=note,
        at=at,
    )
    if check_in:
        exam_check_in(exam=exam, acting_user=acting_user, at=at, early_reason=early_reason)
    return record
