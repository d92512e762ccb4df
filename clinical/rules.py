"""The contrast and pregnancy rules (registered with clinical.safety.rule), and what they ask of the patient's
preparation (`preparation_needs`, read by the appointment letter): one set of conditions for both.

Contrast (iodinated or gadolinium-based, the exam's effective contrast), defaults from the ACR Manual on Contrast
Media:
- a prior contrast reaction: an active allergy of the same contrast class, or of class "other" (a contrast medium
  whose class was not recorded may be either, so it counts against both) -> CONTRAST_REACTION;
- the latest eGFR below RIS_EGFR_THRESHOLD (strictly below), however old -> EGFR_LOW;
- an eGFR is required (aged RIS_EGFR_REQUIRED_FROM_AGE or more on the exam day, or an active renal or diabetes
  alert) and none was observed within the allowed age of the result for the patient's risk group (inpatients and
  emergencies RIS_EGFR_MAX_AGE_DAYS_INPATIENT, everyone else RIS_EGFR_MAX_AGE_DAYS_OUTPATIENT), measured from
  the moment asked -> EGFR_MISSING. An old low result and no recent one raise both.

Pregnancy (ionizing modalities, RIS_IONIZING_MODALITIES, for a patient who could be pregnant on the exam day):
- no status recorded within RIS_PREGNANCY_STATUS_MAX_AGE_HOURS before the moment asked -> PREGNANCY_STATUS_MISSING
  (a radiologist may still decide, e.g. an emergency; the decision holds for that day);
- the newest status possibly or definitely pregnant, or unknown -> PREGNANCY, for a radiologist to decide.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from clinical.models import RENAL_RISK_ALERTS, Allergy, Observation, PregnancyRecord, PregnancyStatus
from clinical.safety import CONTRAST_DECISIONS, PROCEED_DECISIONS, Context, Finding, Kind, rule
from clinical.selectors import active_alerts, active_allergies, could_be_pregnant, latest_observation
from ris.models import ContrastClass
from scheduling.models import Exam, PatientClass

CONTRAST_RULE_CLASSES = (ContrastClass.IODINATED, ContrastClass.GADOLINIUM)
ACUTE_PATIENT_CLASSES = (PatientClass.INPATIENT, PatientClass.EMERGENCY)
MR_MODALITY = "MR"


def exam_day(ctx: Context) -> date:
    """The day the exam is done: its booked day when asked ahead of it, else the day asked."""
    booked = ctx.exam.scheduled_start
    if booked is not None and timezone.localdate(booked) > ctx.on:
        return timezone.localdate(booked)
    return ctx.on


def _age_on(ctx: Context, day: date) -> int | None:
    born = ctx.patient.birth_date
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}"


# --- contrast -------------------------------------------------------------------------------------------------------


def contrast_rule_applies(ctx: Context) -> bool:
    return ctx.contrast in CONTRAST_RULE_CLASSES


def reaction_allergies(ctx: Context) -> list[Allergy]:
    """Active allergies to the exam's contrast class, or to a contrast medium of unrecorded class ("other")."""
    classes = (ctx.contrast, ContrastClass.OTHER)
    return [allergy for allergy in active_allergies(ctx.patient) if allergy.contrast_class in classes]


def egfr_max_age(ctx: Context) -> timedelta:
    """How old an eGFR may be for the patient's risk group (the order's HL7 patient class)."""
    if ctx.exam.order.patient_class in ACUTE_PATIENT_CLASSES:
        return timedelta(days=settings.RIS_EGFR_MAX_AGE_DAYS_INPATIENT)
    return timedelta(days=settings.RIS_EGFR_MAX_AGE_DAYS_OUTPATIENT)


def egfr_required_because(ctx: Context) -> str:
    """Why an eGFR is required before contrast ("" when it is not): the age on the exam day, or an alert."""
    age = _age_on(ctx, exam_day(ctx))
    if age is not None and age >= settings.RIS_EGFR_REQUIRED_FROM_AGE:
        return f"aged {age}"
    alerts = [alert for alert in active_alerts(ctx.patient) if alert.code in RENAL_RISK_ALERTS]
    if alerts:
        return "; ".join(alert.get_code_display().lower() for alert in alerts)
    return ""


def latest_egfr(ctx: Context) -> Observation | None:
    return latest_observation(ctx.patient, Observation.Kind.EGFR, before=ctx.at)


def egfr_recent_enough(observation: Observation | None, ctx: Context) -> bool:
    return observation is not None and observation.observed_at >= ctx.at - egfr_max_age(ctx)


def _egfr_words(observation: Observation) -> str:
    computed = ", computed from creatinine" if observation.computed else ""
    on = timezone.localdate(observation.observed_at)
    return f"eGFR {_number(observation.value)} mL/min/1.73 m² on {on:%Y-%m-%d}{computed}"


@rule
def contrast(exam: Exam, ctx: Context) -> Iterable[Finding]:
    if not contrast_rule_applies(ctx):
        return []
    found = []
    agent = ContrastClass(ctx.contrast).label.lower()
    allergies = reaction_allergies(ctx)
    if allergies:
        listed = "; ".join(
            f"{allergy.allergen_text}"
            + (f" ({allergy.reaction}, {allergy.get_severity_display().lower()})" if allergy.reaction else "")
            for allergy in allergies
        )
        found.append(
            Finding(
                Kind.CONTRAST_REACTION,
                "allergy:" + ",".join(str(allergy.pk) for allergy in sorted(allergies, key=lambda a: a.pk)),
                f"Prior contrast reaction on file: {listed}; this exam uses {agent}",
                CONTRAST_DECISIONS,
            )
        )
    latest = latest_egfr(ctx)
    threshold = Decimal(str(settings.RIS_EGFR_THRESHOLD))
    if latest is not None and latest.value < threshold:
        found.append(
            Finding(
                Kind.EGFR_LOW,
                f"egfr:{latest.pk}",
                f"{_egfr_words(latest)} (below {_number(threshold)})",
                CONTRAST_DECISIONS,
            )
        )
    because = egfr_required_because(ctx)
    if because and not egfr_recent_enough(latest, ctx):
        days = egfr_max_age(ctx).days
        last = f"the latest is {_egfr_words(latest)}" if latest is not None else "none on file"
        found.append(
            Finding(
                Kind.EGFR_MISSING,
                f"egfr-missing:{latest.pk if latest is not None else 'none'}",
                f"An eGFR from the last {days} days is required before {agent} ({because}): {last}",
                CONTRAST_DECISIONS,
            )
        )
    return found


# --- pregnancy ------------------------------------------------------------------------------------------------------


def pregnancy_rule_applies(exam: Exam, day: date) -> bool:
    """An ionizing exam for a patient who could be pregnant on `day`: her pregnancy status is asked."""
    modality = exam.procedure_type.modality.code
    return modality in settings.RIS_IONIZING_MODALITIES and could_be_pregnant(exam.order.patient, day)


def current_pregnancy_record(patient, at: datetime) -> PregnancyRecord | None:
    """The newest status recorded within RIS_PREGNANCY_STATUS_MAX_AGE_HOURS before `at` (inclusive)."""
    since = at - timedelta(hours=settings.RIS_PREGNANCY_STATUS_MAX_AGE_HOURS)
    rows = PregnancyRecord.objects.filter(patient=patient, recorded_at__gte=since, recorded_at__lte=at)
    return rows.order_by("-recorded_at", "-id").first()


def asks_pregnancy_status(exam: Exam, *, at: datetime | None = None) -> bool:
    """Whether the pregnancy rule applies to the exam: check-in asks the question (the check-in page, the buttons)."""
    ctx = Context(exam=exam, at=at or timezone.now())
    return pregnancy_rule_applies(exam, exam_day(ctx))


def pregnancy_status_due(exam: Exam, *, at: datetime | None = None) -> bool:
    """The rule applies and no status is recorded recently enough: it must be asked before the start."""
    at = at or timezone.now()
    return asks_pregnancy_status(exam, at=at) and current_pregnancy_record(exam.order.patient, at) is None


NEEDS_DECISION = (PregnancyStatus.POSSIBLY, PregnancyStatus.DEFINITELY, PregnancyStatus.UNKNOWN)


@rule
def pregnancy(exam: Exam, ctx: Context) -> Iterable[Finding]:
    if not pregnancy_rule_applies(exam, exam_day(ctx)):
        return []
    record = current_pregnancy_record(ctx.patient, ctx.at)
    hours = settings.RIS_PREGNANCY_STATUS_MAX_AGE_HOURS
    modality = ctx.modality
    if record is None:
        return [
            Finding(
                Kind.PREGNANCY_STATUS_MISSING,
                f"pregnancy-missing:{ctx.on:%Y-%m-%d}",
                f"{modality} (ionizing): no pregnancy status recorded in the last {hours} hours; ask the patient",
                PROCEED_DECISIONS,
            )
        ]
    if record.status in NEEDS_DECISION:
        recorded = timezone.localtime(record.recorded_at)
        lmp = f", last menstrual period {record.last_menstrual_period:%Y-%m-%d}" if record.last_menstrual_period else ""
        return [
            Finding(
                Kind.PREGNANCY,
                f"pregnancy:{record.pk}",
                f"{modality} (ionizing): pregnancy status {record.get_status_display().lower()}{lmp} "
                f"(recorded {recorded:%Y-%m-%d %H:%M} by {record.recorded_by})",
                PROCEED_DECISIONS,
            )
        ]
    return []


# --- preparation ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparationNeed:
    kind: str  # "egfr", "premedication", "pregnancy", "mr"
    text: str  # in words for the patient


def preparation_needs(exam: Exam) -> list[PreparationNeed]:
    """What the safety rules ask the patient to prepare or expect, for the appointment letter (as of the booked
    start: an eGFR on file now may be too old by then)."""
    at = exam.scheduled_start or timezone.now()
    ctx = Context(exam=exam, at=at)
    needs = []
    if contrast_rule_applies(ctx):
        if egfr_required_because(ctx) and not egfr_recent_enough(latest_egfr(ctx), ctx):
            days = egfr_max_age(ctx).days
            needs.append(
                PreparationNeed(
                    "egfr",
                    "This exam uses a contrast medium. Please have a kidney blood test (creatinine / eGFR) taken "
                    f"no more than {days} days before your appointment, or bring the result of one, so that we "
                    "can check that the contrast medium is safe for you.",
                )
            )
        if reaction_allergies(ctx):
            needs.append(
                PreparationNeed(
                    "premedication",
                    "You have had a reaction to a contrast medium before. Your radiologist decides whether you need "
                    "medicine beforehand (premedication) or a different way of doing the exam; we will call you if "
                    "you do. Tell us if you have had any other reaction since.",
                )
            )
    if pregnancy_rule_applies(exam, exam_day(ctx)):
        needs.append(
            PreparationNeed(
                "pregnancy",
                "This exam uses X-rays or another form of radiation: you will be asked whether you could be "
                "pregnant. Please know the date your last period started.",
            )
        )
    if ctx.modality == MR_MODALITY:
        needs.append(
            PreparationNeed(
                "mr",
                "You will complete an MR safety questionnaire before the exam. Tell us about any implants or devices "
                "(pacemaker, defibrillator, cochlear implant, clips, pumps), metal fragments or recent surgery, and "
                "bring any implant card you have.",
            )
        )
    return needs
