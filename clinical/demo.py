"""Demo clinical data (idempotent): the department's protocol catalog (CT and MR) that radiologists pick from; for
the demo patients allergies (a few contrast reactions), alerts, weight and height, kidney function for the older
patients, MR implants, and the pregnancy status asked at each visit; and (protocol_demo_exams, called from
reporting's demo once the schedule exists) protocols on most of the upcoming demo exams, the others waiting on the
protocol worklist.

Runs before scheduling's demo (INSTALLED_APPS order), so the demo's exams start on data a department would have.
Each patient's values come from a sequence seeded by the MRN (the same on every run); the shared one is untouched.
"""

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from clinical import services
from clinical.models import (
    Allergy,
    ClinicalStatus,
    Implant,
    MedicalAlert,
    MRSafety,
    Observation,
    PregnancyStatus,
    Protocol,
)
from clinical.protocols import exam_protocol_set, exams_awaiting_protocol
from clinical.selectors import could_be_pregnant
from ris.audit import Actor, attribute
from ris.models import ContrastClass, Modality, Patient, ProcedureType, User
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


IODINATED, GADOLINIUM, NONE = ContrastClass.IODINATED, ContrastClass.GADOLINIUM, ContrastClass.NONE
IOHEXOL_350, IOHEXOL_300 = "iohexol 350 mgI/mL", "iohexol 300 mgI/mL"
GADOBUTROL = "gadobutrol 1.0 mmol/mL"

# code, name, modality, contrast, agent, route, technologist notes, procedure codes (empty: any of the modality)
PROTOCOLS = [
    ("CTHEADNC", "CT head non-contrast", "CT", NONE, "", "", "Axial 5 mm brain and 0.625 mm bone kernels.", ["CTHEAD"]),
    (
        "CTHEADIV",
        "CT head with IV contrast",
        "CT",
        IODINATED,
        IOHEXOL_300,
        "IV",
        "Non-contrast then 75 mL at 2 mL/s, scan at 60 s.",
        ["CTHEADC", "CTHEADWWO"],
    ),
    ("CTNECKIV", "CT neck soft tissue", "CT", IODINATED, IOHEXOL_300, "IV", "90 mL split bolus.", ["CTNECKC"]),
    (
        "CTCHESTLD",
        "CT chest low dose",
        "CT",
        NONE,
        "",
        "",
        "Low-dose technique, CTDIvol at most 3 mGy; arms up, full inspiration.",
        ["CTLUNGSCR", "CTCHEST"],
    ),
    (
        "CTCHESTIV",
        "CT chest with IV contrast",
        "CT",
        IODINATED,
        IOHEXOL_350,
        "IV",
        "70 mL, scan at 60 s.",
        ["CTCHESTC"],
    ),
    (
        "CTPA",
        "CT pulmonary angiogram",
        "CT",
        IODINATED,
        IOHEXOL_350,
        "IV",
        "18G antecubital line; 60 mL at 4.5 mL/s, bolus tracking on the pulmonary trunk (100 HU).",
        ["CTAPE"],
    ),
    (
        "CTAPPV",
        "CT abdomen/pelvis portal venous",
        "CT",
        IODINATED,
        IOHEXOL_350,
        "IV",
        "100 mL at 3 mL/s, scan at 70 s. 1 L oral water over 45 minutes before.",
        ["CTAPC"],
    ),
    ("CTAPSTONE", "CT abdomen/pelvis non-contrast (stone)", "CT", NONE, "", "", "Prone if needed.", ["CTAP"]),
    ("CTSPINE", "CT spine non-contrast", "CT", NONE, "", "", "Bone and soft-tissue kernels, sagittal MPR.", []),
    ("MRBRAINRT", "MR brain routine", "MR", NONE, "", "", "Sag T1, ax T2, FLAIR, DWI, SWI.", ["MRBRAIN", "MRAHEAD"]),
    (
        "MRBRAINGD",
        "MR brain without and with gadobutrol",
        "MR",
        GADOLINIUM,
        GADOBUTROL,
        "IV",
        "0.1 mL/kg; post-contrast 3D T1.",
        ["MRBRAINWWO"],
    ),
    ("MRKNEERT", "MR knee routine", "MR", NONE, "", "", "Knee coil; PD fat-sat in three planes, cor T1.", ["MRKNEE"]),
    ("MRLSPINERT", "MR lumbar spine routine", "MR", NONE, "", "", "Sag T1, T2, STIR; ax T2 L3-S1.", ["MRLSPINE"]),
    ("MRCSPINERT", "MR cervical spine routine", "MR", NONE, "", "", "Sag T1, T2, STIR; ax T2*.", ["MRCSPINE"]),
    (
        "MRSHOULDRT",
        "MR shoulder routine",
        "MR",
        NONE,
        "",
        "",
        "Shoulder coil, arm in external rotation.",
        ["MRSHOULDER"],
    ),
    ("MRCP", "MRCP", "MR", NONE, "", "", "Fasting 4 hours; pineapple juice as negative oral contrast.", ["MRCP"]),
    (
        "MRLIVERGD",
        "MR liver dynamic with gadobutrol",
        "MR",
        GADOLINIUM,
        GADOBUTROL,
        "IV",
        "0.1 mL/kg at 2 mL/s; arterial, portal, delayed phases.",
        ["MRABDWWO"],
    ),
    ("MRPELVGD", "MR pelvis with gadobutrol", "MR", GADOLINIUM, GADOBUTROL, "IV", "0.1 mL/kg.", ["MRPELVWWO"]),
    (
        "MRBREASTGD",
        "MR breast dynamic",
        "MR",
        GADOLINIUM,
        GADOBUTROL,
        "IV",
        "Prone, breast coil; 0.1 mL/kg at 2 mL/s, five dynamic phases.",
        ["MRBREAST"],
    ),
]


def protocol_catalog(actor: Actor) -> int:
    """The demo protocol catalog (idempotent); the number of protocols added."""
    modalities = {modality.code: modality for modality in Modality.objects.all()}
    procedures = {procedure.code: procedure for procedure in ProcedureType.objects.all()}
    added = 0
    for code, name, modality, contrast, agent, route, notes, procedure_codes in PROTOCOLS:
        if Protocol.objects.filter(code=code).exists() or modality not in modalities:
            continue
        protocol = Protocol(
            code=code,
            name=name,
            modality=modalities[modality],
            contrast=contrast,
            contrast_agent=agent,
            contrast_route=route,
            technologist_notes=notes,
        )
        attribute(protocol, actor, "demo protocol catalog")
        protocol.save()
        protocol.procedure_types.set([procedures[c] for c in procedure_codes if c in procedures])
        added += 1
    return added


def protocol_demo_exams() -> int:
    """The demo radiologist protocols two in three of the exams booked from today on that need it, with the
    catalog protocol meant for their procedure; the rest wait on the protocol worklist. The number protocoled.

    Called by reporting's demo, which runs after the demo schedule (clinical's runs before it)."""
    radiologist = User.objects.filter(username="radiologist").first()
    if radiologist is None:
        return 0
    today = timezone.make_aware(datetime.combine(timezone.localdate(), time()))
    done = 0
    for exam in exams_awaiting_protocol().filter(scheduled_start__gte=today):
        if exam.pk % 3 == 0:  # left for the worklist
            continue
        protocol = Protocol.objects.filter(active=True, procedure_types=exam.procedure_type).order_by("code").first()
        if protocol is not None:
            exam_protocol_set(exam=exam, protocol=protocol, acting_user=radiologist)
            done += 1
    return done


@transaction.atomic
def seed(*, rng: random.Random, actor: Actor, log) -> None:
    added = protocol_catalog(actor)
    log(f"clinical: {Protocol.objects.count()} protocols ({added} added)")
    now = timezone.now()
    done = set(ClinicalStatus.objects.values_list("patient_id", flat=True))
    created = 0
    for patient in Patient.objects.filter(mrn__startswith="DEMO").exclude(pk__in=done).order_by("mrn"):
        _patient_data(patient, random.Random(f"{SEED}-{patient.mrn}"), actor, now)  # the same values on every run
        created += 1
    log(f"clinical: safety data for {created} demo patients")
