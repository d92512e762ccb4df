"""Reads of the clinical records: what the safety banner, the worklist and the interfaces show of a patient."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Model, OuterRef, QuerySet, Subquery
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
from ris.statements import Slot, Statement, run_together

Kind = Observation.Kind
NEWEST_OBSERVATION = ("-observed_at", "-id")
NEWEST_PREGNANCY = ("-recorded_at", "-id")
ALLERGY_ORDER, ALERT_ORDER, IMPLANT_ORDER = ("allergen_text", "id"), ("code", "id"), ("device_type", "id")
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
    return rows.order_by(*NEWEST_OBSERVATION).first()


def _ids(patient_ids: Iterable[int] | Slot) -> list[int] | Slot:
    return patient_ids if isinstance(patient_ids, Slot) else list(patient_ids)


def _latest_observations(patient_ids: Iterable[int] | Slot, kinds: Iterable[str]) -> QuerySet[Observation]:
    newest = Observation.objects.filter(
        patient_id=OuterRef("patient_id"), kind=OuterRef("kind"), value__isnull=False
    ).order_by(*NEWEST_OBSERVATION)
    return Observation.objects.filter(
        patient_id__any_of=_ids(patient_ids), kind__in=list(kinds), pk=Subquery(newest.values("pk")[:1])
    )


def latest_observations(patient_ids: Iterable[int], kinds: Iterable[str]) -> dict[tuple[int, str], Observation]:
    """The newest observation with a value of each kind, for many patients in one query: (patient id, kind) -> it."""
    return {(row.patient_id, row.kind): row for row in _latest_observations(patient_ids, kinds)}


def latest_pregnancy(patient: Patient) -> PregnancyRecord | None:
    return latest_pregnancies([patient.pk]).get(patient.pk)


def _latest_pregnancies(patient_ids: Iterable[int] | Slot) -> QuerySet[PregnancyRecord]:
    newest = PregnancyRecord.objects.filter(patient_id=OuterRef("patient_id")).order_by(*NEWEST_PREGNANCY)
    return PregnancyRecord.objects.filter(patient_id__any_of=_ids(patient_ids), pk=Subquery(newest.values("pk")[:1]))


def latest_pregnancies(patient_ids: Iterable[int]) -> dict[int, PregnancyRecord]:
    """The newest pregnancy record of each patient, in one query: patient id -> it."""
    return {row.patient_id: row for row in _latest_pregnancies(patient_ids)}


def _active(model: type[Model], patient_ids: Iterable[int] | Slot, *order: str) -> QuerySet:
    return model.objects.filter(patient_id__any_of=_ids(patient_ids), active=True).order_by(*order)


def active_allergies(patient: Patient):
    return _active(Allergy, [patient.pk], *ALLERGY_ORDER)


def active_alerts(patient: Patient):
    return _active(MedicalAlert, [patient.pk], *ALERT_ORDER)


def active_implants(patient: Patient):
    return _active(Implant, [patient.pk], *IMPLANT_ORDER)


def _by_patient(rows: Iterable) -> dict[int, list]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row.patient_id].append(row)
    return grouped


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
    def egfr_level_label(self) -> str:
        """The colour's meaning in words (the banner never says it by colour only)."""
        threshold = f"{settings.RIS_EGFR_THRESHOLD:g}"
        return {"danger": f"below {threshold}", "warning": f"near {threshold}"}.get(self.egfr_level, "")

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
    return safety_summaries([patient], on=on)[patient.pk]


# What a safety summary reads, compiled once (ris.statements): the worklist asks for the summaries of every match.
PATIENTS = Slot("patients")
SUMMARY_KINDS = (Kind.EGFR, Kind.WEIGHT, Kind.HEIGHT)
_STATUSES = Statement(
    lambda: ClinicalStatus.objects.filter(patient_id__any_of=PATIENTS).values_list("patient_id", "allergies")
)
_ALLERGIES = Statement(lambda: _active(Allergy, PATIENTS, *ALLERGY_ORDER))
_ALERTS = Statement(lambda: _active(MedicalAlert, PATIENTS, *ALERT_ORDER))
_IMPLANTS = Statement(lambda: _active(Implant, PATIENTS, *IMPLANT_ORDER))
_OBSERVATIONS = Statement(lambda: _latest_observations(PATIENTS, SUMMARY_KINDS))
_PREGNANCIES = Statement(lambda: _latest_pregnancies(PATIENTS))


def safety_summaries(patients: Iterable[Patient], *, on: date | None = None) -> dict[int, SafetySummary]:
    """The safety summary of each patient (patient id -> it) in a constant number of queries, however many patients:
    for lists such as the modality worklist."""
    day = on or timezone.localdate()
    patients = list(patients)
    ids = [patient.pk for patient in patients]
    relevant = {patient.pk for patient in patients if could_be_pregnant(patient, day)}
    every = {"patients": ids}
    statuses, allergies, alerts, implants, observations, *pregnancies = run_together(
        [
            (_STATUSES, every),
            (_ALLERGIES, every),
            (_ALERTS, every),
            (_IMPLANTS, every),
            (_OBSERVATIONS, every),
            *([(_PREGNANCIES, {"patients": sorted(relevant)})] if relevant else []),
        ]
    )  # one round trip on PostgreSQL
    statuses = dict(statuses)
    allergies, alerts, implants = _by_patient(allergies), _by_patient(alerts), _by_patient(implants)
    observations = {(row.patient_id, row.kind): row for row in observations}
    pregnancies = {row.patient_id: row for row in pregnancies[0]} if pregnancies else {}
    return {
        patient.pk: SafetySummary(
            patient=patient,
            age=age_on(patient, day),
            allergy_status=statuses.get(patient.pk) or ClinicalStatus.Allergies.NOT_ASKED,
            allergies=allergies.get(patient.pk, []),
            alerts=alerts.get(patient.pk, []),
            implants=implants.get(patient.pk, []),
            egfr=observations.get((patient.pk, Kind.EGFR)),
            weight=observations.get((patient.pk, Kind.WEIGHT)),
            height=observations.get((patient.pk, Kind.HEIGHT)),
            pregnancy=pregnancies.get(patient.pk),
            pregnancy_relevant=patient.pk in relevant,
        )
        for patient in patients
    }


@dataclass
class HistoryRow:
    """One change of a patient's clinical records, as the clinical page lists it."""

    at: datetime
    actor: str
    record: str
    item: str
    change: str
    reason: str


_CHANGE = {"+": "added", "~": "changed", "-": "deleted"}


def clinical_history(patient: Patient, *, limit: int = 200) -> list[HistoryRow]:
    """Who changed what in the patient's allergies, alerts, measurements and results, pregnancy records and
    implants, newest first."""
    sources = [
        (ClinicalStatus, "Allergy status", lambda row: row.get_allergies_display()),
        (Allergy, "Allergy", lambda row: f"{row.allergen_text} ({'active' if row.active else 'inactive'})"),
        (MedicalAlert, "Alert", lambda row: f"{row.instance} ({'active' if row.active else 'inactive'})"),
        (
            Observation,
            "Measurement or result",
            lambda row: f"{row.instance}, {timezone.localtime(row.observed_at):%Y-%m-%d %H:%M}",
        ),
        (PregnancyRecord, "Pregnancy status", lambda row: row.get_status_display()),
        (Implant, "Implant", lambda row: f"{row.instance} ({'in place' if row.active else 'removed or in error'})"),
    ]
    rows: list[HistoryRow] = []
    for model, record, describe in sources:
        for row in model.history.filter(patient_id=patient.pk).order_by("-history_date")[:limit]:
            rows.append(
                HistoryRow(
                    at=row.history_date,
                    actor=row.history_actor,
                    record=record,
                    item=describe(row),
                    change=_CHANGE.get(row.history_type, row.history_type),
                    reason=row.history_change_reason or "",
                )
            )
    rows.sort(key=lambda row: row.at, reverse=True)
    return rows[:limit]


def observations_of(patient: Patient, *kinds: str):
    """The patient's observations of `kinds`, newest first."""
    return Observation.objects.filter(patient=patient, kind__in=kinds).order_by("-observed_at", "-id")


def pregnancy_records(patient: Patient):
    return PregnancyRecord.objects.filter(patient=patient).order_by("-recorded_at", "-id")


def clinical_page_shows_pregnancy(patient: Patient, day: date) -> bool:
    """Pregnancy is asked of patients who could be pregnant; records already on file stay visible."""
    return could_be_pregnant(patient, day) or PregnancyRecord.objects.filter(patient=patient).exists()
