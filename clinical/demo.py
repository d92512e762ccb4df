"""Demo patient-safety set-up: the department's protocol catalog (CT and MR) that radiologists pick from, and
(protocol_demo_exams, called from reporting's demo once the schedule exists) protocols on most of the upcoming demo
exams (the others wait on the protocol worklist).

Idempotent (natural key: the protocol code): a second run changes nothing, and a protocol changed in the admin
is left as it is.
"""

import random
from datetime import datetime, time

from django.utils import timezone

from clinical.models import Protocol
from clinical.protocols import exam_protocol_set, exams_awaiting_protocol
from ris.audit import Actor, attribute
from ris.models import ContrastClass, Modality, ProcedureType, User

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


def seed(*, rng: random.Random, actor: Actor, log) -> None:
    added = protocol_catalog(actor)
    log(f"clinical: {Protocol.objects.count()} protocols ({added} added)")
