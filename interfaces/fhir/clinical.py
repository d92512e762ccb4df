"""FHIR R4 resources of a patient's clinical safety records: pure builders, as in interfaces.fhir.resources.

- AllergyIntolerance: clinical.models.Allergy (active or no longer: clinicalStatus active / inactive). Type and
  category from HL7 table 0127, criticality and reaction severity from table 0128.
- Observation: clinical.models.Observation (eGFR, serum creatinine, body weight, height, and whatever else a sender
  sent, by its code as received) and clinical.models.PregnancyRecord (pregnancy status, LOINC 82810-3 with a SNOMED
  CT value). The two tables share the resource type: a pregnancy record's id is "pregnancy-<id>".
"""

from decimal import Decimal

from clinical.models import Allergy, Observation, PregnancyRecord, PregnancyStatus
from interfaces.fhir.resources import LOINC, Links, compact, fhir_date, instant, patient_reference

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LOCAL_CODE_SYSTEM_PREFIX = "urn:ris:code-system:"  # + a coding system name FHIR has no URI for (e.g. 99LAB)

# HL7 v2 coding system names (table 0396, as senders write them) -> FHIR system URIs.
CODE_SYSTEMS = {
    "LN": LOINC,
    "LOINC": LOINC,
    "SCT": SNOMED,
    "SNM": SNOMED,
    "SNOMED": SNOMED,
    "SNOMEDCT": SNOMED,
    "RXNORM": RXNORM,
    "RXN": RXNORM,
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "UNII": "http://fdasis.nlm.nih.gov",
    "UCUM": UCUM,
}


def code_system(name: str) -> str | None:
    """The FHIR URI of an HL7 v2 coding system name; a local one as urn:ris:code-system:<name>; None for none."""
    if not name:
        return None
    return CODE_SYSTEMS.get(name.upper().replace(" ", ""), LOCAL_CODE_SYSTEM_PREFIX + name)


def code_system_names(uri: str) -> list[str]:
    """The coding system names that `code_system` turns into `uri` (the reverse, for search)."""
    if uri.startswith(LOCAL_CODE_SYSTEM_PREFIX):
        return [uri.removeprefix(LOCAL_CODE_SYSTEM_PREFIX)]
    return [name for name, known in CODE_SYSTEMS.items() if known == uri]


# --- AllergyIntolerance ---------------------------------------------------------------------------------------

T = Allergy.Type
# HL7 table 0127 -> AllergyIntolerance category (medication | food | environment | biologic); a miscellaneous
# allergy or contraindication has none. Contrast media are drugs: their allergies are "medication" whatever type.
ALLERGY_CATEGORY = {
    T.DRUG: "medication",
    T.FOOD: "food",
    T.ENVIRONMENTAL: "environment",
    T.ANIMAL: "environment",
    T.PLANT: "environment",
    T.POLLEN: "environment",
}
# A miscellaneous contraindication is not an immune reaction: an intolerance. Every other type is an allergy.
ALLERGY_TYPE = {T.CONTRAINDICATION: "intolerance"}
S = Allergy.Severity
CRITICALITY = {S.SEVERE: "high", S.MODERATE: "low", S.MILD: "low", S.UNKNOWN: "unable-to-assess"}
REACTION_SEVERITY = {S.SEVERE: "severe", S.MODERATE: "moderate", S.MILD: "mild"}


def allergy_category(allergy: Allergy) -> str | None:
    return "medication" if allergy.contrast_class else ALLERGY_CATEGORY.get(allergy.allergy_type)


def allergy_intolerance(allergy: Allergy, links: Links) -> dict:
    """An allergy or intolerance (needs `patient` loaded). AL1-3 is the code; AL1-5 the reaction's manifestation."""
    system = code_system(allergy.allergen_coding_system)
    coding = {"system": system, "code": allergy.allergen_code, "display": allergy.allergen_text}
    reaction = {
        "manifestation": [{"text": allergy.reaction}],
        "severity": REACTION_SEVERITY.get(allergy.severity),
    }
    return compact(
        {
            "resourceType": "AllergyIntolerance",
            "id": str(allergy.pk),
            "meta": {"lastUpdated": instant(allergy.updated_at)},
            "clinicalStatus": {
                "coding": [
                    {
                        "system": ALLERGY_CLINICAL,
                        "code": "active" if allergy.active else "inactive",
                        "display": "Active" if allergy.active else "Inactive",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [{"system": ALLERGY_VERIFICATION, "code": "confirmed", "display": "Confirmed"}]
            },
            "type": ALLERGY_TYPE.get(allergy.allergy_type, "allergy"),
            "category": [allergy_category(allergy)],
            "criticality": CRITICALITY.get(allergy.severity),
            "code": {"coding": [coding] if allergy.allergen_code else [], "text": allergy.allergen_text},
            "patient": patient_reference(allergy.patient),
            "onsetDateTime": fhir_date(allergy.identified_on),
            "recordedDate": instant(allergy.created_at),
            "reaction": [reaction] if allergy.reaction else [],
        }
    )


# --- Observation ----------------------------------------------------------------------------------------------

K = Observation.Kind
COMPUTED_EGFR = "98979-8"  # eGFR CKD-EPI 2021 (creatinine), the code of an eGFR the RIS computed
# The LOINC code of the kinds whose value is kept in one unit (clinical.models.Observation.UNITS): whatever code
# they came with, the stored value is what this code names. eGFR keeps the code it came with (its equation).
KIND_CODES = {
    K.CREATININE: ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
    K.WEIGHT: ("29463-7", "Body weight"),
    K.HEIGHT: ("8302-2", "Body height"),
}
# The stored unit of each kind as UCUM: (code, display).
KIND_UNITS = {
    K.EGFR: ("mL/min/{1.73_m2}", "mL/min/1.73m2"),
    K.CREATININE: ("mg/dL", "mg/dL"),
    K.WEIGHT: ("kg", "kg"),
    K.HEIGHT: ("cm", "cm"),
}
KIND_CATEGORY = {K.EGFR: "laboratory", K.CREATININE: "laboratory", K.WEIGHT: "vital-signs", K.HEIGHT: "vital-signs"}
CATEGORY_DISPLAY = {"laboratory": "Laboratory", "vital-signs": "Vital Signs", "social-history": "Social History"}
# OBX-11 (HL7 table 0085) -> observation-status; staff-entered values have none: final.
OBSERVATION_STATUS = {
    "": "final",
    "F": "final",
    "C": "corrected",
    "P": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "I": "registered",
    "O": "registered",
    "X": "cancelled",
    "D": "entered-in-error",
    "W": "entered-in-error",
}
# OBX-8 (HL7 table 0078) flags that are codes of v3 ObservationInterpretation as they are.
INTERPRETATIONS = frozenset({"H", "HH", "L", "LL", "A", "AA", "N", "<", ">", "I", "R", "S", "U", "D", "B", "W"})
COMPUTED_NOTE = "Computed by the RIS from the serum creatinine: CKD-EPI 2021 (race-free) equation."

PREGNANCY_STATUS = ("82810-3", "Pregnancy status")
LAST_MENSTRUAL_PERIOD = ("8665-2", "Last menstrual period start date")
# DICOM Pregnancy Status (0010,21C0) -> SNOMED CT (the LOINC answer list of 82810-3 in SNOMED).
PREGNANCY_VALUES = {
    PregnancyStatus.NOT_PREGNANT: ("60001007", "Not pregnant"),
    PregnancyStatus.POSSIBLY: ("102874004", "Possible pregnancy"),
    PregnancyStatus.DEFINITELY: ("77386006", "Pregnant"),
    PregnancyStatus.UNKNOWN: ("261665006", "Unknown"),
}
PREGNANCY_ID_PREFIX = "pregnancy-"


def observation_coding(row: Observation) -> tuple[str | None, str, str]:
    """(system, code, display) of an observation as this server shows (and searches) it."""
    if row.kind in KIND_CODES:
        code, display = KIND_CODES[row.kind]
        return LOINC, code, display
    if row.kind == K.EGFR and (row.computed or not row.code):
        return LOINC, COMPUTED_EGFR, "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] by CKD-EPI 2021"
    return code_system(row.coding_system), row.code, row.name


def category(code: str) -> dict:
    return {"coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": CATEGORY_DISPLAY[code]}]}


def _number(value: Decimal) -> int | float:
    value = value.normalize()
    return int(value) if value == value.to_integral_value() else float(value)


def observation(row: Observation | PregnancyRecord, links: Links) -> dict:
    """A measurement, a lab result or a pregnancy status (needs `patient` loaded)."""
    if isinstance(row, PregnancyRecord):
        return pregnancy_observation(row, links)
    system, code, display = observation_coding(row)
    if row.value is None:
        value = {"valueString": row.value_text or None}
    elif row.kind in KIND_UNITS:
        unit, unit_display = KIND_UNITS[row.kind]
        value = {"valueQuantity": {"value": _number(row.value), "unit": unit_display, "system": UCUM, "code": unit}}
    else:  # a value of a kind the RIS does not convert: the unit as received
        value = {"valueQuantity": {"value": _number(row.value), "unit": row.unit_received or row.unit or None}}
    flags = [flag for flag in row.abnormal_flags.split("~") if flag in INTERPRETATIONS]
    kind_category = KIND_CATEGORY.get(row.kind)
    return compact(
        {
            "resourceType": "Observation",
            "id": str(row.pk),
            "meta": {"lastUpdated": instant(row.created_at)},
            "status": OBSERVATION_STATUS.get(row.result_status, "unknown"),
            "category": [category(kind_category)] if kind_category else [],
            "code": {
                "coding": [{"system": system, "code": code, "display": display}] if code else [],
                "text": row.name or display or row.get_kind_display(),
            },
            "subject": patient_reference(row.patient),
            "effectiveDateTime": instant(row.observed_at),
            "issued": instant(row.created_at),
            **value,
            "interpretation": [{"coding": [{"system": INTERPRETATION, "code": flag}]} for flag in flags],
            "note": [{"text": COMPUTED_NOTE}] if row.computed else [],
            "derivedFrom": (
                [{"reference": f"Observation/{row.derived_from_id}", "type": "Observation"}]
                if row.derived_from_id
                else []
            ),
        }
    )


def pregnancy_observation(record: PregnancyRecord, links: Links) -> dict:
    """A pregnancy status as asked or tested: LOINC 82810-3 valued in SNOMED CT, the last menstrual period as a
    component (LOINC 8665-2)."""
    value_code, value_display = PREGNANCY_VALUES[PregnancyStatus(record.status)]
    component = None
    if record.last_menstrual_period:
        code, display = LAST_MENSTRUAL_PERIOD
        component = {
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
            "valueDateTime": fhir_date(record.last_menstrual_period),
        }
    notes = [f"Recorded by {record.recorded_by}.", record.note]
    return compact(
        {
            "resourceType": "Observation",
            "id": f"{PREGNANCY_ID_PREFIX}{record.pk}",
            "meta": {"lastUpdated": instant(record.recorded_at)},
            "status": "final",
            "category": [category("social-history")],
            "code": {
                "coding": [{"system": LOINC, "code": PREGNANCY_STATUS[0], "display": PREGNANCY_STATUS[1]}],
                "text": PREGNANCY_STATUS[1],
            },
            "subject": patient_reference(record.patient),
            "effectiveDateTime": instant(record.recorded_at),
            "valueCodeableConcept": {
                "coding": [{"system": SNOMED, "code": value_code, "display": value_display}],
                "text": record.get_status_display(),
            },
            "note": [{"text": text} for text in notes if text],
            "component": [component],
        }
    )
