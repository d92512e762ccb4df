"""Reads of the clinical records: what the safety banner, the worklist and the interfaces show of a patient."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from clinical.models import (
    Allergy,
    ClinicalStatus,
    ExamDocumentation,
    ExamProtocol,
    Implant,
    MedicalAlert,
    MRSafety,
    Observation,
    PregnancyRecord,
    PregnancyStatus,
    Source,
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


# --- The technologist's record (clinical.documentation) ----------------------------------------------------------


def documentation_of(exam) -> ExamDocumentation | None:
    return ExamDocumentation.objects.filter(exam=exam).select_related("reaction_allergy").first()


def _amount(value: Decimal, places: int = 1) -> str:
    """A stored decimal as written by hand: 80.0 -> "80", 12.50 -> "12.5"."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def technique_lines(doc: ExamDocumentation | None) -> list[str]:
    """The technologist's record as lines of report text: the contrast given, any reaction, the dose."""
    if doc is None:
        return []
    lines = []
    if doc.contrast_given:
        given = [doc.contrast_agent, doc.contrast_route]
        if doc.contrast_volume_ml is not None:
            given.append(f"{_amount(doc.contrast_volume_ml)} mL")
        if doc.contrast_lot:
            given.append(f"lot {doc.contrast_lot}")
        lines.append("Contrast: " + ", ".join(part for part in given if part) + ".")
    elif doc.documented_by:
        lines.append("Contrast: none given.")
    if doc.reaction != ExamDocumentation.Reaction.NONE:
        lines.append(f"Contrast reaction: {doc.get_reaction_display().lower()}. {doc.reaction_notes}".rstrip())
    dose = []
    if doc.ctdivol_mgy is not None:
        dose.append(f"CTDIvol {_amount(doc.ctdivol_mgy, 2)} mGy")
    if doc.dlp_mgycm is not None:
        dose.append(f"DLP {_amount(doc.dlp_mgycm, 2)} mGy·cm")
    if doc.dap_gycm2 is not None:
        dose.append(f"DAP {_amount(doc.dap_gycm2, 4)} Gy·cm²")
    if doc.fluoroscopy_seconds is not None:
        dose.append(f"fluoroscopy time {_amount(doc.fluoroscopy_seconds)} s")
    if dose:
        source = " (reported by the modality)" if doc.dose_source == Source.MODALITY else ""
        lines.append(f"Radiation dose: {', '.join(dose)}{source}.")
    return lines


def contrast_reactions_among(exam_ids) -> dict[int, str]:
    """Exam ID -> reaction grade label, for those of `exam_ids` whose technologist recorded a contrast reaction."""
    rows = ExamDocumentation.objects.filter(exam_id__in=list(exam_ids)).exclude(
        reaction=ExamDocumentation.Reaction.NONE
    )
    return {
        exam_id: ExamDocumentation.Reaction(grade).label for exam_id, grade in rows.values_list("exam_id", "reaction")
    }


def documentation_initial(exam) -> dict:
    """What the documentation form starts with: the record so far (a dose the modality reported included), else the
    protocol's contrast agent and route. Whether contrast was given is left to the technologist to say."""
    doc = documentation_of(exam)
    initial: dict = {}
    if doc is not None:
        initial.update(
            {name: getattr(doc, name) for name in ("ctdivol_mgy", "dlp_mgycm", "dap_gycm2", "fluoroscopy_seconds")}
        )
    if doc is not None and doc.documented_by:
        initial.update(
            contrast_given="yes" if doc.contrast_given else "no",
            contrast_agent=doc.contrast_agent,
            contrast_route=doc.contrast_route,
            contrast_volume_ml=doc.contrast_volume_ml,
            contrast_lot=doc.contrast_lot,
            reaction=doc.reaction,
            reaction_notes=doc.reaction_notes,
        )
        return initial
    protocol = ExamProtocol.objects.filter(exam=exam).first()
    if protocol is not None:
        initial.update(contrast_agent=protocol.contrast_agent, contrast_route=protocol.contrast_route)
    return initial
