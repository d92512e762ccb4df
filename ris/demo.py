"""Demo data of the core domain: a facility, its rooms and catalog, physicians, payers, patients and users.

Deterministic (a seeded random generator) and idempotent (natural keys): a second run changes nothing.
"""

import random
from datetime import date, time

from django.db import transaction

from ris.audit import Actor
from ris.models import (
    ContrastClass,
    Coverage,
    Facility,
    Modality,
    OpeningHours,
    Patient,
    Payer,
    ProcedureType,
    ReferringPhysician,
    Role,
    Room,
    User,
)
from ris.models.catalog import PROTOCOLED_MODALITIES
from ris.services import coverage_add, patient_register
from ris.terminal import progress_bar
from ris.validators import local_today, npi_check_digit

DEMO_PASSWORD = "demo-Radiology-2026"  # noqa: S105  (public demo credential, refused when DEBUG is off)
DEMO_USERS = [
    # username, first name, last name, role, title
    ("frontdesk", "Fran", "Desk", Role.FRONT_DESK, ""),
    ("technologist", "Toni", "Tech", Role.TECHNOLOGIST, "RT(R)"),
    ("radiologist", "Rita", "Reader", Role.RADIOLOGIST, "MD"),  # attending: signs final (reporting/demo.py)
    ("resident", "Remy", "Resident", Role.RADIOLOGIST, "MD"),  # saves preliminary reports
    ("billing", "Bill", "Clerk", Role.BILLING, ""),
    ("admin", "Ada", "Admin", Role.ADMIN, ""),
    ("mrsafety", "Max", "Magnet", Role.MR_SAFETY_OFFICER, "MRSO"),
]

# code, name, modality, CPT, body part, minutes, preparation
PREP_CONTRAST = "Nothing to eat for 4 hours before the exam; clear fluids are fine. Bring a recent creatinine result."
PREP_MR = "Remove all metal. Tell us before the day about pacemakers, implants, clips or pregnancy."
PREP_FAST = "Nothing to eat or drink for 6 hours before the exam; take your usual medicines with a sip of water."
PREP_BLADDER = "Drink one litre of water in the hour before the exam and do not empty your bladder."
PROCEDURES = [
    ("CTHEAD", "CT head without contrast", "CT", "70450", "HEAD", 15, ""),
    ("CTHEADC", "CT head with contrast", "CT", "70460", "HEAD", 20, PREP_CONTRAST),
    ("CTHEADWWO", "CT head without and with contrast", "CT", "70470", "HEAD", 25, PREP_CONTRAST),
    ("CTSINUS", "CT maxillofacial without contrast", "CT", "70486", "HEAD", 15, ""),
    ("CTNECKC", "CT neck soft tissue with contrast", "CT", "70491", "NECK", 20, PREP_CONTRAST),
    ("CTCHEST", "CT chest without contrast", "CT", "71250", "CHEST", 15, ""),
    ("CTCHESTC", "CT chest with contrast", "CT", "71260", "CHEST", 20, PREP_CONTRAST),
    ("CTLUNGSCR", "CT low-dose lung cancer screening", "CT", "71271", "CHEST", 15, ""),
    ("CTAPE", "CT angiography chest (pulmonary embolism)", "CT", "71275", "CHEST", 25, PREP_CONTRAST),
    ("CTCSPINE", "CT cervical spine without contrast", "CT", "72125", "CSPINE", 15, ""),
    ("CTLSPINE", "CT lumbar spine without contrast", "CT", "72131", "LSPINE", 15, ""),
    ("CTAPC", "CT abdomen and pelvis with contrast", "CT", "74177", "ABDOMENPELVIS", 25, PREP_CONTRAST),
    ("CTAP", "CT abdomen and pelvis without contrast", "CT", "74176", "ABDOMENPELVIS", 20, ""),
    ("MRBRAIN", "MRI brain without contrast", "MR", "70551", "BRAIN", 30, PREP_MR),
    ("MRBRAINWWO", "MRI brain without and with contrast", "MR", "70553", "BRAIN", 45, PREP_MR),
    ("MRAHEAD", "MR angiography head without contrast", "MR", "70544", "HEAD", 30, PREP_MR),
    ("MRCSPINE", "MRI cervical spine without contrast", "MR", "72141", "CSPINE", 30, PREP_MR),
    ("MRLSPINE", "MRI lumbar spine without contrast", "MR", "72148", "LSPINE", 30, PREP_MR),
    ("MRSHOULDER", "MRI shoulder without contrast", "MR", "73221", "SHOULDER", 40, PREP_MR),
    ("MRKNEE", "MRI knee without contrast", "MR", "73721", "KNEE", 40, PREP_MR),
    ("MRABDWWO", "MRI abdomen without and with contrast", "MR", "74183", "ABDOMEN", 60, PREP_MR + " " + PREP_FAST),
    ("MRCP", "MRI abdomen without contrast (MRCP)", "MR", "74181", "ABDOMEN", 45, PREP_MR + " " + PREP_FAST),
    ("MRPELVWWO", "MRI pelvis without and with contrast", "MR", "72197", "PELVIS", 60, PREP_MR),
    ("MRBREAST", "MRI breast bilateral without and with contrast", "MR", "77049", "BREAST", 45, PREP_MR),
    ("USABD", "US abdomen complete", "US", "76700", "ABDOMEN", 30, PREP_FAST),
    ("USABDLTD", "US abdomen limited (RUQ)", "US", "76705", "ABDOMEN", 20, PREP_FAST),
    ("USRENAL", "US retroperitoneal (kidneys) complete", "US", "76770", "KIDNEY", 30, ""),
    ("USPELVIS", "US pelvis transabdominal complete", "US", "76856", "PELVIS", 30, PREP_BLADDER),
    ("USTV", "US transvaginal", "US", "76830", "PELVIS", 20, ""),
    ("USOB1", "US obstetric first trimester", "US", "76801", "PELVIS", 30, PREP_BLADDER),
    ("USTHYROID", "US soft tissues of head and neck (thyroid)", "US", "76536", "NECK", 20, ""),
    ("USBREAST", "US breast unilateral complete", "US", "76641", "BREAST", 20, ""),
    ("USCAROTID", "Duplex scan carotid arteries bilateral", "US", "93880", "NECK", 30, ""),
    ("USVENLE", "Duplex scan veins of lower extremities bilateral", "US", "93970", "LEG", 30, ""),
    ("XRCHEST1", "X-ray chest, 1 view", "DX", "71045", "CHEST", 10, ""),
    ("XRCHEST2", "X-ray chest, 2 views", "DX", "71046", "CHEST", 10, ""),
    ("XRCSPINE", "X-ray cervical spine, 2 or 3 views", "DX", "72040", "CSPINE", 10, ""),
    ("XRLSPINE", "X-ray lumbosacral spine, 2 or 3 views", "DX", "72100", "LSPINE", 10, ""),
    ("XRPELVIS", "X-ray pelvis, 1 or 2 views", "DX", "72170", "PELVIS", 10, ""),
    ("XRSHOULDER", "X-ray shoulder, 2 or more views", "DX", "73030", "SHOULDER", 10, ""),
    ("XRWRIST", "X-ray wrist, 3 or more views", "DX", "73110", "HAND", 10, ""),
    ("XRHAND", "X-ray hand, 3 or more views", "DX", "73130", "HAND", 10, ""),
    ("XRKNEE", "X-ray knee, 3 views", "DX", "73562", "KNEE", 10, ""),
    ("XRANKLE", "X-ray ankle, 3 or more views", "DX", "73610", "ANKLE", 10, ""),
    ("XRFOOT", "X-ray foot, 3 or more views", "DX", "73630", "FOOT", 10, ""),
    ("XRABD", "X-ray abdomen, 1 view", "DX", "74018", "ABDOMEN", 10, ""),
]
# code -> allowed sex, minimum and maximum age in years (None: no limit); every other procedure is open to all.
# Mammography and breast imaging stay open to any sex (men get them too); migration ris 0015 sets the same on a
# catalog seeded before the limits existed.
PROCEDURE_LIMITS = {
    "USOB1": (ProcedureType.AllowedSex.FEMALE, 12, 55),
    "USTV": (ProcedureType.AllowedSex.FEMALE, 12, None),
    "CTLUNGSCR": (ProcedureType.AllowedSex.ANY, 50, 80),  # USPSTF lung cancer screening ages
}
# code -> the contrast medium of the procedures done with contrast: iodinated for CT, gadolinium for MR (the
# pulmonary angiogram is contrast-enhanced though its name does not say so). Every CT and MR procedure is
# protocoled by a radiologist (PROTOCOLED_MODALITIES).
PROCEDURE_CONTRAST = {
    "CTHEADC": ContrastClass.IODINATED,
    "CTHEADWWO": ContrastClass.IODINATED,
    "CTNECKC": ContrastClass.IODINATED,
    "CTCHESTC": ContrastClass.IODINATED,
    "CTAPE": ContrastClass.IODINATED,
    "CTAPC": ContrastClass.IODINATED,
    "MRBRAINWWO": ContrastClass.GADOLINIUM,
    "MRABDWWO": ContrastClass.GADOLINIUM,
    "MRPELVWWO": ContrastClass.GADOLINIUM,
    "MRBREAST": ContrastClass.GADOLINIUM,
}

WEEKDAYS, WEEKEND = range(0, 5), (5, 6)
# name, modality, AE title, station name, location (for people), location code (DICOM SH: 16 characters),
# {weekday: [(opens, closes), ...]}. CT 1 serves the emergency department around the clock and DX 1 at weekends
# too: the demo has work "today" whatever the day and the hour.
ROOMS = [
    (
        "CT 1",
        "CT",
        "CT1",
        "CT1",
        "Radiology level 0, room 12",
        "RAD L0 R12",
        {d: [(time(0), time(23, 59))] for d in (*WEEKDAYS, *WEEKEND)},
    ),
    (
        "CT 2",
        "CT",
        "CT2",
        "CT2",
        "Radiology level 0, room 14",
        "RAD L0 R14",
        {d: [(time(8), time(17))] for d in WEEKDAYS},
    ),
    (
        "MR 1",
        "MR",
        "MR1",
        "MR1",
        "Radiology level -1, room 3",
        "RAD L-1 R3",
        {d: [(time(7), time(21))] for d in WEEKDAYS},
    ),
    (
        "US 1",
        "US",
        "US1",
        "US1",
        "Radiology level 0, room 20",
        "RAD L0 R20",
        {d: [(time(8), time(12)), (time(13), time(17))] for d in WEEKDAYS},
    ),
    (
        "US 2",
        "US",
        "US2",
        "US2",
        "Radiology level 0, room 21",
        "RAD L0 R21",
        {d: [(time(8), time(12)), (time(13), time(16))] for d in WEEKDAYS},
    ),
    (
        "DX 1",
        "DX",
        "DX1",
        "DX1",
        "Radiology level 0, room 2",
        "RAD L0 R2",
        {**{d: [(time(7), time(19))] for d in WEEKDAYS}, **{d: [(time(8), time(14))] for d in WEEKEND}},
    ),
]

PAYERS = [
    ("Aetna", "60054", "Hartford", "CT", "06156"),
    ("UnitedHealthcare", "87726", "Salt Lake City", "UT", "84130"),
    ("Cigna", "62308", "Chattanooga", "TN", "37422"),
    ("Humana", "61101", "Louisville", "KY", "40201"),
    ("Medicare Part B (demo jurisdiction)", "MCRB1", "Baltimore", "MD", "21244"),
]

PHYSICIANS = [
    ("Okafor", "Chinwe", "Internal Medicine"),
    ("Lindqvist", "Henrik", "Orthopaedic Surgery"),
    ("Alvarez", "María", "Emergency Medicine"),
    ("Nakamura", "Kenji", "Neurology"),
    ("Schmidt", "Anna", "Family Medicine"),
    ("Dubois", "Étienne", "Gastroenterology"),
    ("Kowalski", "Piotr", "Pulmonology"),
    ("O'Brien", "Siobhán", "Obstetrics and Gynaecology"),
    ("Haddad", "Rania", "Oncology"),
    ("Johnson", "Michael", "Urology"),
    ("Chen", "Wei", "Cardiology"),
    ("Van der Berg", "Pieter", "Family Medicine"),
]

FAMILY_NAMES = [
    "Müller",
    "Øster",
    "Schröder",
    "Dvořák",
    "Wójcik",
    "Núñez",
    "García",
    "Smith",
    "Johnson",
    "Nguyen",
    "Kim",
    "Rossi",
    "Dubois",
    "Andersson",
    "Jensen",
    "Papadopoulos",
    "Yılmaz",
    "O'Connor",
    "Fernández",
    "Kovács",
    "Novák",
    "Brown",
    "Williams",
    "Martin",
    "Lefèvre",
    "Sørensen",
    "Łukasiewicz",
    "Bäcker",
    "Ortiz",
    "Patel",
]
GIVEN_NAMES = {
    "M": ["Jürgen", "Søren", "José", "Łukasz", "François", "James", "Ahmet", "Liam", "Mateo", "Björn", "Wei", "Noah"],
    "F": ["Åse", "Zoë", "Inés", "Małgorzata", "Chloé", "Mary", "Ayşe", "Emma", "Sofía", "Ingrid", "Mei", "Olivia"],
}
CITIES = [("Springfield", "IL", "62701"), ("Riverton", "WY", "82501"), ("Fairview", "OR", "97024")]
STREETS = ["Main St", "Oak Ave", "Lakeview Dr", "Hospital Rd", "Birch Ln", "Market Sq"]

PATIENT_COUNT = 200


def valid_npi(rng: random.Random) -> str:
    first_nine = "1" + "".join(str(rng.randrange(10)) for _ in range(8))
    return first_nine + str(npi_check_digit(first_nine))


def _users() -> None:
    from django.contrib.auth.models import Group

    for username, first, last, role, title in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=username)
        user.first_name, user.last_name, user.title = first, last, title
        user.is_staff = role == Role.ADMIN
        user.set_password(DEMO_PASSWORD)
        user.save()
        user.groups.set([Group.objects.get(name=role.label)])


def _catalog() -> Facility:
    facility, _ = Facility.objects.get_or_create(
        code="MAIN",
        defaults={
            "name": "Springfield General Hospital",
            "street": "1 Hospital Rd",
            "city": "Springfield",
            "state": "IL",
            "postal_code": "62701",
            "country": "US",
            "npi": "1234567893",
            "tax_id": "371234567",
            "phone": "+1 217 555 0100",
        },
    )
    modalities = {m.code: m for m in Modality.objects.all()}
    for name, code, ae_title, station, location, location_code, hours in ROOMS:
        room, created = Room.objects.get_or_create(
            station_ae_title=ae_title,
            defaults={
                "name": name,
                "facility": facility,
                "modality": modalities[code],
                "station_name": station,
                "location": location,
                "location_code": location_code,
            },
        )
        if created:
            OpeningHours.objects.bulk_create(
                OpeningHours(room=room, weekday=day, opens_at=opens, closes_at=closes)
                for day, periods in hours.items()
                for opens, closes in periods
            )
    procedure_catalog()
    return facility


def procedure_catalog() -> None:
    """The demo catalog of procedure types with their CPT codes, contrast and protocoling (idempotent); benchmarks
    use it too."""
    modalities = {m.code: m for m in Modality.objects.all()}
    for code, name, modality, cpt, body_part, minutes, prep in PROCEDURES:
        sex, low, high = PROCEDURE_LIMITS.get(code, (ProcedureType.AllowedSex.ANY, None, None))
        ProcedureType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "modality": modalities[modality],
                "cpt_code": cpt,
                "body_part": body_part,
                "default_duration_minutes": minutes,
                "preparation": prep,
                "allowed_sex": sex,
                "min_age_years": low,
                "max_age_years": high,
                "contrast": PROCEDURE_CONTRAST.get(code, ContrastClass.NONE),
                "needs_protocol": modality in PROTOCOLED_MODALITIES,
            },
        )


def _physicians(rng: random.Random, facility: Facility) -> None:
    for family, given, specialty in PHYSICIANS:
        npi = valid_npi(rng)
        ReferringPhysician.objects.get_or_create(
            family_name=family,
            given_name=given,
            defaults={"npi": npi, "specialty": specialty, "facility": facility, "name_suffix": "MD"},
        )


def _payers() -> list[Payer]:
    return [
        Payer.objects.get_or_create(
            payer_id=payer_id,
            defaults={
                "name": name,
                "city": city,
                "state": state,
                "postal_code": postal_code,
                "country": "US",
                "street": "PO Box 1000",
            },
        )[0]
        for name, payer_id, city, state, postal_code in PAYERS
    ]


def _patients(rng: random.Random, payers: list[Payer], actor: Actor) -> None:
    existing = set(Patient.objects.filter(mrn__startswith="DEMO").values_list("mrn", flat=True))
    today = local_today()
    for number in progress_bar(range(1, PATIENT_COUNT + 1), total=PATIENT_COUNT, desc="demo patients", unit="patients"):
        # Draw every value whether or not the patient exists, so the sequence is the same on every run.
        sex = rng.choice("MFMFMFMFOU")
        given_pool = GIVEN_NAMES["M" if sex in "MO" else "F"]
        family, given = FAMILY_NAMES[(number - 1) % len(FAMILY_NAMES)], rng.choice(given_pool)
        if number == 1:
            family, given, sex = "Müller", "Jürgen", "M"
        elif number == 2:
            family, given, sex = "Øster", "Åse", "F"
        birth = date(rng.randint(1932, today.year - 1), rng.randint(1, 12), rng.randint(1, 28))
        if number == 1:  # README's search examples: DEMO00001, "mueller jur", 1961-04-02
            birth = date(1961, 4, 2)
        city, state, postal_code = rng.choice(CITIES)
        street = f"{rng.randint(1, 999)} {rng.choice(STREETS)}"
        phone = f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        payer, member = rng.choice([*payers, None]), f"M{rng.randint(10**8, 10**9 - 1)}"
        mrn = f"DEMO{number:05d}"
        if mrn in existing:
            continue
        patient = patient_register(
            mrn=mrn,
            family_name=family,
            given_name=given,
            birth_date=birth,
            sex=sex,
            street=street,
            city=city,
            state=state,
            postal_code=postal_code,
            country="US",
            phone=phone,
            self_pay=payer is None,
            acting_user=actor,
        )
        if payer is not None:  # about one in six pays for themselves
            coverage_add(
                patient=patient,
                payer=payer,
                member_id=member,
                group_number=f"G{number:04d}",
                priority=Coverage.Priority.PRIMARY,
                acting_user=actor,
            )


@transaction.atomic
def seed(*, rng: random.Random, actor: Actor, log) -> None:
    _users()
    facility = _catalog()
    _physicians(rng, facility)
    payers = _payers()
    _patients(rng, payers, actor)
    log(
        f"core: {Room.objects.count()} rooms, {ProcedureType.objects.count()} procedure types, "
        f"{ReferringPhysician.objects.count()} referring physicians, {Patient.objects.count()} patients, "
        f"{len(DEMO_USERS)} demo users"
    )
