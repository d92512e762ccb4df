"""Demo clinical data for the demo patients (idempotent): allergies (a few contrast reactions), alerts, weight and
height, kidney function for the older patients, MR implants, and the pregnancy status asked at each visit.

Runs before scheduling's demo (INSTALLED_APPS order), so the demo's exams start on data a department would have.
Each patient's values come from a sequence seeded by the MRN (the same on every run); the shared one is untouched.
"""

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from clinical import services
from clinical.models import Allergy, ClinicalStatus, Implant, MedicalAlert, MRSafety, Observation, PregnancyStatus
from clinical.selectors import could_be_pregnant
from ris.audit import Actor, attribute
from ris.models import ContrastClass, Patient
from scheduling.demo import DAYS_BACK

SEED = 2020
Kind = Observation.Kind
# allergen, type, contrast class, severity, reaction
ALLERGIES = [
    ("Penicillin", Allergy.Type.DRUG, "", Allergy.Severity.MODERATE, "Rash"),
    ("Latex", Allergy.Type.MISC, "", Allergy.Severity.MILD, "Contact dermatitis"),
    ("Peanut", Allergy.Type.FOOD, "", Allergy.Severity.SEVERE, "Anaphylaxis"),
    ("Sulfonamides", Allergy.Type.DRUG, "", Allergy.Severity.MILD, "Hives"),
    ("Iodinated contrast media", Allergy.Type.DRUG, ContrastClass.IODINATED, Allergy.Severity.MODERATE, "Hives"),
]
GADOLINIUM_ALLERGY = ("Gadobutrol", Allergy.Type.DRUG, ContrastClass.GADOLINIUM, Allergy.Severity.MILD, "Nausea")
ALERTS = [
    (MedicalAlert.Code.DIABETES_METFORMIN, ""),
    (MedicalAlert.Code.INTERPRETER, "Portuguese"),
    (MedicalAlert.Code.FALL_RISK, ""),
    (MedicalAlert.Code.ISOLATION, "Contact precautions (MRSA)"),
    (MedicalAlert.Code.RENAL_DISEASE, "CKD stage 3"),
]


def _local(day, hour: int) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def _patient_data(patient: Patient, rng: random.Random, actor: Actor, now: datetime) -> None:
    today = timezone.localdate(now)
    ClinicalStatus.objects.get_or_create(patient=patient)  # marks the patient as seeded, whatever is drawn
    roll = rng.random()
    if roll < 0.6:
        services.allergies_status_set(patient=patient, acting_user=actor, status=ClinicalStatus.Allergies.NONE_KNOWN)
    elif roll < 0.85:
        allergen = GADOLINIUM_ALLERGY if roll > 0.845 else rng.choice(ALLERGIES)
        text, kind, contrast, severity, reaction = allergen
        services.allergy_add(
            patient=patient,
            allergen_text=text,
            allergy_type=kind,
            contrast_class=contrast,
            severity=severity,
            reaction=reaction,
            identified_on=today - timedelta(days=rng.randint(200, 4000)),
            acting_user=actor,
        )
    if rng.random() < 0.7:
        measured = now - timedelta(days=rng.randint(0, 200))
        weight, height = rng.randint(48, 125), rng.randint(150, 196)
        services.observation_record(
            patient=patient, kind=Kind.WEIGHT, value_text=str(weight), unit="kg", observed_at=measured,
            code="29463-7", coding_system="LN", name="Body weight", acting_user=actor,
        )  # fmt: skip
        services.observation_record(
            patient=patient, kind=Kind.HEIGHT, value_text=str(height), unit="cm", observed_at=measured,
            code="8302-2", coding_system="LN", name="Body height", acting_user=actor,
        )  # fmt: skip
    born = patient.birth_date
    age = today.year - born.year if born else 0
    if age >= 50 and rng.random() < 0.85:
        value = Decimal(rng.randint(38, 105))
        services.observation_record(
            patient=patient, kind=Kind.EGFR, value_text=str(value), unit="mL/min/1.73m2",
            observed_at=now - timedelta(days=rng.randint(DAYS_BACK, 20), hours=rng.randint(0, 8)),
            code="98979-8", coding_system="LN", name="eGFR (CKD-EPI 2021)", acting_user=actor,
        )  # fmt: skip
    if rng.random() < 0.08:
        code, text = rng.choice(ALERTS)
        alert = MedicalAlert(patient=patient, code=code, text=text)
        attribute(alert, actor, "demo alert")
        alert.save()
    roll = rng.random()
    if roll < 0.03:
        device = ("Pacemaker", "Medtronic Azure XT DR MRI SureScan", MRSafety.CONDITIONAL, "1.5 T and 3 T, SureScan")
        if roll < 0.005:
            device = ("Cochlear implant", "older model, magnet not removable", MRSafety.UNSAFE, "")
        implant = Implant(patient=patient, device_type=device[0], make_model=device[1], mr_safety=device[2])
        implant.conditions = device[3]
        attribute(implant, actor, "demo implant")
        implant.save()
    if could_be_pregnant(patient, today):
        # Asked at each visit: a status on each day of the demo schedule's history, in the early morning.
        for offset in range(-DAYS_BACK, 1):
            services.pregnancy_record(
                patient=patient,
                status=PregnancyStatus.NOT_PREGNANT,
                at=_local(today + timedelta(days=offset), 6),
                note="asked at the visit",
                acting_user=actor,
            )


@transaction.atomic
def seed(*, rng: random.Random, actor: Actor, log) -> None:
    now = timezone.now()
    done = set(ClinicalStatus.objects.values_list("patient_id", flat=True))
    created = 0
    for patient in Patient.objects.filter(mrn__startswith="DEMO").exclude(pk__in=done).order_by("mrn"):
        _patient_data(patient, random.Random(f"{SEED}-{patient.mrn}"), actor, now)  # the same values on every run
        created += 1
    log(f"clinical: safety data for {created} demo patients")
