"""What the clinical information system sends of a patient's clinical data (HL7 AL1 and OBX, read by interfaces/):
the allergy list it keeps, measurements and lab results; and what moves when two patient records are merged.

The CIS owns the allergies it sent (Source.CIS): each message that carries its list replaces them (new ones added,
ones no longer sent set inactive, never deleted); allergies entered by staff or recorded after a reaction in the
department stay as they are. Contrast media are their own class, read from the allergen's code or text here.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction

from clinical.models import (
    Allergy,
    ClinicalStatus,
    Implant,
    MedicalAlert,
    Observation,
    PregnancyRecord,
    Source,
)
from clinical.services import allergies_status_set, egfr_compute, observation_record
from ris.audit import Actor, attribute
from ris.models import ContrastClass, Patient

Kind = Observation.Kind

# --- what an allergen is -------------------------------------------------------------------------------------------

# Words (in the allergen's code or text, any case) that name a contrast medium of one class. Gadolinium first: "MRI
# contrast dye" is a gadolinium-based agent although it holds "contrast dye".
_GADOLINIUM = (
    "gadolinium",
    "gbca",
    "gadobutrol",
    "gadavist",
    "gadovist",
    "gadoterate",
    "dotarem",
    "clariscan",
    "gadobenate",
    "multihance",
    "gadopentetate",
    "magnevist",
    "gadoteridol",
    "prohance",
    "gadoxetate",
    "eovist",
    "primovist",
    "gadodiamide",
    "omniscan",
    "gadopiclenol",
    "mri contrast",
    "mr contrast",
)
_IODINATED = (
    "iodinated",
    "iodine",
    "iohexol",
    "omnipaque",
    "iopamidol",
    "isovue",
    "iodixanol",
    "visipaque",
    "ioversol",
    "optiray",
    "iopromide",
    "ultravist",
    "iomeprol",
    "iomeron",
    "diatrizoate",
    "gastrografin",
    "iv contrast",
    "intravenous contrast",
    "ct contrast",
    "radiocontrast",
    "radiographic contrast",
    "contrast dye",
    "ivp dye",
    "x-ray dye",
    "xray dye",
)


def _words(value: str) -> str:
    """Lower case, any run of other characters than letters, digits and '-' as one blank, padded with blanks."""
    return f" {re.sub(r'[^0-9a-z-]+', ' ', value.lower()).strip()} "


def _names(words: str, names: Sequence[str]) -> bool:
    """Does any of `names` start a word of `words` ("gadolinium" in "gadolinium-based", "iodine" in "iodines")?"""
    return any(f" {name}" in words for name in names)


def contrast_class_of(code: str, text: str) -> str:
    """The contrast class an allergen belongs to, from its code or text: iodinated, gadolinium-based, another
    contrast medium ("contrast" without saying which), or none."""
    words = _words(f"{code} {text}")
    if _names(words, _GADOLINIUM):
        return ContrastClass.GADOLINIUM
    if _names(words, _IODINATED):
        return ContrastClass.IODINATED
    if " contrast" in words:
        return ContrastClass.OTHER
    return ContrastClass.NONE


# "No known allergies" as senders code or write it (AL1-3): abbreviations, words, and the SNOMED CT concepts
# 716186003 No known allergy, 409137002 No known drug allergy, 428607008 No known environmental allergy,
# 429625007 No known food allergy.
_NO_KNOWN = frozenset(
    {
        "nka",
        "nkda",
        "nkma",
        "nkfa",
        "no known allergies",
        "no known allergy",
        "no known drug allergies",
        "no known drug allergy",
        "no known medication allergies",
        "no known medication allergy",
        "716186003",
        "409137002",
        "428607008",
        "429625007",
    }
)


def is_no_known_allergies(code: str, text: str) -> bool:
    """Does an allergen (code or text) say "no known allergies" rather than name one?"""
    return any(_words(value).strip() in _NO_KNOWN for value in (code, text) if value.strip())


# --- the CIS's allergy list ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CisAllergy:
    """One allergy as the CIS sent it (an AL1 segment, read by interfaces/)."""

    allergen_text: str
    allergen_code: str = ""
    allergen_coding_system: str = ""
    allergy_type: str = Allergy.Type.DRUG
    severity: str = Allergy.Severity.UNKNOWN
    reaction: str = ""
    identified_on: date | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What makes two entries the same allergen: the code in its system, else the text."""
        if self.allergen_code:
            return ("code", f"{self.allergen_coding_system.upper()}|{self.allergen_code.upper()}")
        return ("text", _words(self.allergen_text).strip())


def _key_of(row: Allergy) -> tuple[str, str]:
    return CisAllergy(
        allergen_text=row.allergen_text,
        allergen_code=row.allergen_code,
        allergen_coding_system=row.allergen_coding_system,
    ).key


def _fields_of(sent: CisAllergy) -> dict:
    text = (sent.allergen_text.strip() or sent.allergen_code.strip())[:255]
    return {
        "allergen_text": text,
        "allergen_code": sent.allergen_code.strip()[:64],
        "allergen_coding_system": sent.allergen_coding_system.strip()[:64],
        "allergy_type": sent.allergy_type,
        "contrast_class": contrast_class_of(sent.allergen_code, sent.allergen_text),
        "severity": sent.severity,
        "reaction": sent.reaction.strip()[:255],
        "identified_on": sent.identified_on,
    }


@transaction.atomic
def cis_allergies_replace(
    *, patient: Patient, allergies: Sequence[CisAllergy], no_known_allergies: bool, acting_user: Actor
) -> list[Allergy]:
    """Replace the patient's CIS-sourced allergies with the list the CIS sent now (its active ones after).

    New allergens are added, known ones updated (and made active again), CIS allergies not sent any more set
    inactive; staff-entered and reaction allergies are kept. An empty list with `no_known_allergies` records "no
    known allergies" from the CIS, unless an allergy entered in the department is still active: then the list
    stays "listed" (the department's own record is not overruled by the CIS's "none"). An empty list without
    "no known allergies" inactivates the CIS's allergies and leaves the answer recorded before.
    """
    Patient.objects.select_for_update().filter(pk=patient.pk).first()  # one replacement at a time per patient
    existing = list(Allergy.objects.filter(patient=patient, source=Source.CIS).order_by("-active", "id"))
    by_key: dict[tuple[str, str], Allergy] = {}
    for row in existing:
        by_key.setdefault(_key_of(row), row)
    kept: dict[int, Allergy] = {}
    for sent in allergies:
        if not (sent.allergen_text.strip() or sent.allergen_code.strip()):
            continue
        fields = {**_fields_of(sent), "active": True}
        row = by_key.get(sent.key)
        if row is None:
            row = Allergy(patient=patient, source=Source.CIS, **fields)
            attribute(row, acting_user, "allergy sent by the CIS")
            row.save()
            by_key[sent.key] = row
        elif row.pk not in kept and any(getattr(row, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(row, name, value)
            attribute(row, acting_user, "allergy updated by the CIS")
            row.save()
        kept[row.pk] = row
    for row in existing:
        if row.active and row.pk not in kept:
            row.active = False
            attribute(row, acting_user, "no longer sent by the CIS")
            row.save()
    others_active = Allergy.objects.filter(patient=patient, active=True).exclude(source=Source.CIS).exists()
    if kept:
        allergies_status_set(
            patient=patient, acting_user=acting_user, status=ClinicalStatus.Allergies.LISTED, source=Source.CIS
        )
    elif others_active:  # the list is now the department's alone
        allergies_status_set(
            patient=patient, acting_user=acting_user, status=ClinicalStatus.Allergies.LISTED, source=Source.STAFF
        )
    elif no_known_allergies:
        allergies_status_set(
            patient=patient, acting_user=acting_user, status=ClinicalStatus.Allergies.NONE_KNOWN, source=Source.CIS
        )
    return list(kept.values())


# --- measurements and lab results -----------------------------------------------------------------------------------

# LOINC codes of body weight (29463-7 body weight, 3141-9 body weight measured) and height (8302-2 body height,
# 3137-7 body height measured). eGFR and creatinine codes are settings (RIS_EGFR_LOINC_CODES, ...).
WEIGHT_CODES = frozenset({"29463-7", "3141-9"})
HEIGHT_CODES = frozenset({"8302-2", "3137-7"})
BODY_MEASURES = frozenset({Kind.WEIGHT, Kind.HEIGHT})
LAB_AND_BODY_MEASURES = frozenset({Kind.WEIGHT, Kind.HEIGHT, Kind.EGFR, Kind.CREATININE})


def observation_kind(code: str, *, kinds=LAB_AND_BODY_MEASURES) -> str:
    """The kind of observation a LOINC code names, among `kinds`; OTHER for any other code."""
    code = code.strip()
    if code in WEIGHT_CODES:
        kind = Kind.WEIGHT
    elif code in HEIGHT_CODES:
        kind = Kind.HEIGHT
    elif code in settings.RIS_EGFR_LOINC_CODES:
        kind = Kind.EGFR
    elif code in settings.RIS_CREATININE_LOINC_CODES:
        kind = Kind.CREATININE
    else:
        kind = Kind.OTHER
    return kind if kind in kinds else Kind.OTHER


@dataclass(frozen=True)
class CisObservation:
    """One observation as the CIS (or its laboratory) sent it (an OBX, read by interfaces/)."""

    code: str
    coding_system: str
    name: str
    value_text: str  # as received
    number: str  # the number to store as the value ("" for none: not numeric, or no result)
    unit: str
    observed_at: datetime
    abnormal_flags: str = ""
    result_status: str = ""
    group: int = 0  # the OBR it belongs to: eGFR is computed per group where creatinine came without one


# The largest number stored as a value (the column holds 8 digits before the point, and a height in m becomes cm):
# a larger one is kept as text only, not refused.
_LARGEST = Decimal(1_000_000)


def _storable(number: str) -> bool:
    try:
        return abs(Decimal(number)) < _LARGEST
    except (InvalidOperation, ValueError):
        return False


@transaction.atomic
def cis_observations_record(
    *,
    patient: Patient,
    observations: Sequence[CisObservation],
    acting_user: Actor,
    message_control_id: str = "",
    kinds=LAB_AND_BODY_MEASURES,
    compute_egfr: bool = False,
) -> list[Observation]:
    """Store what the CIS sent, each observation as received (codes of `kinds` as their kind, any other as OTHER,
    never refused). One already stored from the CIS (same code, time, value and status) is not stored twice.
    With `compute_egfr`, a group that brought a creatinine with a value but no eGFR gets an eGFR computed from it
    (CKD-EPI 2021, marked computed)."""
    stored: list[Observation] = []
    creatinine: dict[int, Observation] = {}
    with_egfr: set[int] = set()
    for sent in observations:
        kind = observation_kind(sent.code, kinds=kinds)
        if kind == Kind.EGFR:
            with_egfr.add(sent.group)
        if Observation.objects.filter(
            patient=patient,
            source=Source.CIS,
            code=sent.code[:64],
            observed_at=sent.observed_at,
            value_text=sent.value_text[:1024],
            unit_received=sent.unit[:64],
            result_status=sent.result_status[:1],
        ).exists():
            continue
        row = observation_record(
            patient=patient,
            kind=kind,
            value_text=sent.value_text,
            number=sent.number if _storable(sent.number) else "",
            unit=sent.unit,
            observed_at=sent.observed_at,
            acting_user=acting_user,
            source=Source.CIS,
            code=sent.code,
            coding_system=sent.coding_system,
            name=sent.name,
            abnormal_flags=sent.abnormal_flags,
            result_status=sent.result_status,
            message_control_id=message_control_id,
        )
        stored.append(row)
        if kind == Kind.CREATININE and row.value is not None:
            creatinine[sent.group] = row
    if compute_egfr:
        for group, row in creatinine.items():
            if group not in with_egfr:
                computed = egfr_compute(creatinine=row, acting_user=acting_user)
                if computed is not None:
                    stored.append(computed)
    return stored


# --- patient merge --------------------------------------------------------------------------------------------------

_MOVED = (Allergy, MedicalAlert, Observation, PregnancyRecord, Implant)


@transaction.atomic
def patient_merge_clinical(*, source: Patient, target: Patient, acting_user: Actor) -> None:
    """A merge step (ris.merging): the merged record's clinical records move to the survivor, each with its history
    row; its allergy status moves where the survivor has none, and the survivor's status then says what it holds."""
    note = f"patient merge: from {source.mrn_issuer}/{source.mrn}".replace(": /", ": ")
    for model in _MOVED:
        for row in model.objects.filter(patient=source).order_by("id"):
            row.patient = target
            attribute(row, acting_user, note)
            row.save()
    moved = ClinicalStatus.objects.select_for_update().filter(patient=source).first()
    kept = ClinicalStatus.objects.select_for_update().filter(patient=target).first()
    if moved is not None and kept is None:
        moved.patient = target
        attribute(moved, acting_user, note)
        moved.save()
        kept = moved
    elif moved is not None and kept.allergies == ClinicalStatus.Allergies.NOT_ASKED:
        allergies_status_set(
            patient=target, acting_user=acting_user, status=moved.allergies, source=moved.allergies_source
        )
        kept.refresh_from_db()
    if kept is not None and Allergy.objects.filter(patient=target, active=True).exists():
        allergies_status_set(
            patient=target,
            acting_user=acting_user,
            status=ClinicalStatus.Allergies.LISTED,
            source=kept.allergies_source if kept.allergies == ClinicalStatus.Allergies.LISTED else Source.STAFF,
        )
