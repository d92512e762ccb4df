"""Reads of the clinical records: what the safety banner, the worklist and the interfaces show of a patient."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from clinical.models import (
    Allergy,
    ClinicalStatus,
    Implant,
    MedicalAlert,
    MRSafety,
    Observation,
    PregnancyRecord,
    PregnancyStatus,
)
from ris.models import Patient

Kind = Observation.Kind
MR_SEVERITY = [MRSafety.UNSAFE, MRSafety.UNKNOWN, MRSafety.CONDITIONAL, MRSafety.SAFE]  # worst first


def age_on(patient: Patient, day: date) -> int | None:
    born = patient.birth_date
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def could_be_pregnant(patient: Patient, day: date) -> bool:
    """Female and within the configured age range on `day` (unknown age counts as within it)."""
    if patient.sex != Patient.Sex.FEMALE:
        return False
    age = age_on(patient, day)
    return age is None or settings.RIS_PREGNANCY_AGE_MIN <= age <= settings.RIS_PREGNANCY_AGE_MAX


def latest_observation(patient: Patient, kind: str, *, before: datetime | None = None) -> Observation | None:
    """The newest observation of `kind` with a value (as of `before`, default now)."""
    rows = Observation.objects.filter(patient=patient, kind=kind, value__isnull=False)
    if before is not None:
        rows = rows.filter(observed_at__lte=before)
    return rows.order_by("-observed_at", "-id").first()


def latest_pregnancy(patient: Patient) -> PregnancyRecord | None:
    return PregnancyRecord.objects.filter(patient=patient).order_by("-recorded_at", "-id").first()


def active_allergies(patient: Patient):
    return Allergy.objects.filter(patient=patient, active=True).order_by("allergen_text", "id")


def active_alerts(patient: Patient):
    return MedicalAlert.objects.filter(patient=patient, active=True).order_by("code", "id")


def active_implants(patient: Patient):
    return Implant.objects.filter(patient=patient, active=True).order_by("device_type", "id")


def egfr_level(value: Decimal | None) -> str:
    """ "danger" below the contrast threshold, "warning" within 15 of it, "ok" above; "" without a value."""
    if value is None:
        return ""
    threshold = Decimal(str(settings.RIS_EGFR_THRESHOLD))
    if value < threshold:
        return "danger"
    return "warning" if value < threshold + 15 else "ok"


@dataclass
class SafetySummary:
    """One patient's safety facts as the banner shows them."""

    patient: Patient
    age: int | None
    allergy_status: str  # ClinicalStatus.Allergies
    allergies: list[Allergy] = field(default_factory=list)
    alerts: list[MedicalAlert] = field(default_factory=list)
    implants: list[Implant] = field(default_factory=list)
    egfr: Observation | None = None
    weight: Observation | None = None
    height: Observation | None = None
    pregnancy: PregnancyRecord | None = None
    pregnancy_relevant: bool = False

    @property
    def contrast_allergies(self) -> list[Allergy]:
        return [allergy for allergy in self.allergies if allergy.contrast_class]

    @property
    def egfr_level(self) -> str:
        return egfr_level(self.egfr.value if self.egfr else None)

    @property
    def mr_status(self) -> str:
        """The worst MR marking among the patient's implants ("" without implants)."""
        marks = {implant.mr_safety for implant in self.implants}
        return next((mark for mark in MR_SEVERITY if mark in marks), "")

    @property
    def mr_status_label(self) -> str:
        return MRSafety(self.mr_status).label if self.mr_status else ""

    @property
    def pregnancy_label(self) -> str:
        if self.pregnancy is None:
            return "not recorded"
        return PregnancyStatus(self.pregnancy.status).label


def safety_summary(patient: Patient, *, on: date | None = None) -> SafetySummary:
    day = on or timezone.localdate()
    status = ClinicalStatus.objects.filter(patient=patient).values_list("allergies", flat=True).first()
    relevant = could_be_pregnant(patient, day)
    return SafetySummary(
        patient=patient,
        age=age_on(patient, day),
        allergy_status=status or ClinicalStatus.Allergies.NOT_ASKED,
        allergies=list(active_allergies(patient)),
        alerts=list(active_alerts(patient)),
        implants=list(active_implants(patient)),
        egfr=latest_observation(patient, Kind.EGFR),
        weight=latest_observation(patient, Kind.WEIGHT),
        height=latest_observation(patient, Kind.HEIGHT),
        pregnancy=latest_pregnancy(patient) if relevant else None,
        pregnancy_relevant=relevant,
    )


def safety_summaries(patients, *, on: date | None = None) -> dict[int, SafetySummary]:
    """safety_summary for many patients at once (a worklist), in a fixed number of queries; by patient id."""
    day = on or timezone.localdate()
    patients = {patient.pk: patient for patient in patients}
    ids = list(patients)
    statuses = dict(ClinicalStatus.objects.filter(patient_id__in=ids).values_list("patient_id", "allergies"))
    summaries = {
        pk: SafetySummary(
            patient=patient,
            age=age_on(patient, day),
            allergy_status=statuses.get(pk) or ClinicalStatus.Allergies.NOT_ASKED,
            pregnancy_relevant=could_be_pregnant(patient, day),
        )
        for pk, patient in patients.items()
    }
    for allergy in Allergy.objects.filter(patient_id__in=ids, active=True).order_by("allergen_text", "id"):
        summaries[allergy.patient_id].allergies.append(allergy)
    for alert in MedicalAlert.objects.filter(patient_id__in=ids, active=True).order_by("code", "id"):
        summaries[alert.patient_id].alerts.append(alert)
    for implant in Implant.objects.filter(patient_id__in=ids, active=True).order_by("device_type", "id"):
        summaries[implant.patient_id].implants.append(implant)
    latest = {Kind.EGFR: "egfr", Kind.WEIGHT: "weight", Kind.HEIGHT: "height"}
    observations = Observation.objects.filter(patient_id__in=ids, kind__in=latest, value__isnull=False)
    for observation in observations.order_by("-observed_at", "-id"):  # the first of each kind is the newest
        summary = summaries[observation.patient_id]
        if getattr(summary, latest[observation.kind]) is None:
            setattr(summary, latest[observation.kind], observation)
    relevant = [pk for pk, summary in summaries.items() if summary.pregnancy_relevant]
    for record in PregnancyRecord.objects.filter(patient_id__in=relevant).order_by("-recorded_at", "-id"):
        if summaries[record.patient_id].pregnancy is None:
            summaries[record.patient_id].pregnancy = record
    return summaries
