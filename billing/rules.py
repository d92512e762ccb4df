"""Billing rules that need no database: modifiers by billing mode, and what holds a claim back from export.

Pure functions over plain values, so that capture, the claim worklist and the export all apply the same rules.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from ris.validators import validate_cpt, validate_icd10cm, validate_npi

MODE_MODIFIER = {"global": "", "professional": "26", "technical": "TC"}
DISCONTINUED = "53"  # CPT modifier: discontinued procedure
MAX_LINES = 50  # 837P loop 2400 repeats at most 50 times per claim
MAX_DIAGNOSES = 12  # 837P HI segment


# Why held claims are held, for the held queue's filter: key -> (label, a phrase of the errors claim_errors gives).
HOLD_REASONS = {
    "coverage": ("No coverage", "No coverage:"),
    "subscriber": ("Insured person missing", "The insured is not the patient"),
    "facility": ("Billing provider NPI or tax ID", "of the billing provider"),
    "birth_date": ("Patient birth date", "birth date is missing"),
    "diagnosis": ("Diagnosis code", "diagnosis code"),
    "rendering": ("Rendering radiologist NPI", "rendering radiologist"),
    "fee": ("No fee", "in the fee schedule"),
    "procedure": ("Procedure code", "procedure code"),
}


def modifiers_for(mode: str, *, discontinued: bool, modifier_53: bool) -> list[str]:
    """The CPT modifiers of a charge: 26 or TC under a split billing mode, then 53 for a discontinued exam."""
    modifiers = [MODE_MODIFIER[mode]] if MODE_MODIFIER[mode] else []
    if discontinued and modifier_53:
        modifiers.append(DISCONTINUED)
    return modifiers


def fee_modifier(modifiers: list[str]) -> str:
    """The modifier a fee is scheduled under: 26 or TC for a split service, none for the global one."""
    return next((modifier for modifier in modifiers if modifier in ("26", "TC")), "")


def _passes(validator, value: str) -> bool:
    try:
        validator(value or "")
    except ValidationError:
        return False
    return True


@dataclass(frozen=True)
class LineFacts:
    cpt_code: str
    diagnosis_codes: tuple[str, ...]
    fee: Decimal
    units: int
    amount: Decimal
    rendering_npi: str


@dataclass(frozen=True)
class ClaimFacts:
    """What validation looks at: the claim, its payer and member, its billing provider, its lines."""

    self_pay: bool
    payer_id: str
    member_id: str
    billing_npi: str
    billing_tax_id: str
    patient_birth_date_known: bool
    subscriber_known: bool  # the patient is the insured, or the insured's name and birth date are on file
    total: Decimal
    lines: tuple[LineFacts, ...]


def claim_errors(facts: ClaimFacts) -> list[str]:
    """Every reason the claim cannot go to the clearinghouse, each a sentence a billing clerk can act on."""
    errors: list[str] = []
    if not facts.self_pay and not (facts.payer_id and facts.member_id):
        errors.append("No coverage: the patient has no active insurance for the date of service (or is self-pay).")
    if not _passes(validate_npi, facts.billing_npi):
        errors.append("Missing or invalid NPI of the billing provider (the facility).")
    if not re.fullmatch(r"[0-9]{9}", facts.billing_tax_id or ""):
        errors.append("Missing or invalid tax ID (EIN, 9 digits) of the billing provider.")
    if not facts.patient_birth_date_known:
        errors.append("The patient's birth date is missing.")
    if not facts.subscriber_known:
        errors.append("The insured is not the patient: their name and birth date are missing on the coverage.")
    if not facts.lines:
        errors.append("The claim has no service lines.")
    if len(facts.lines) > MAX_LINES:
        errors.append(f"More than {MAX_LINES} service lines: split the claim.")
    diagnoses = {code for line in facts.lines for code in line.diagnosis_codes}
    if len(diagnoses) > MAX_DIAGNOSES:
        errors.append(f"More than {MAX_DIAGNOSES} diagnosis codes on one claim.")
    for number, line in enumerate(facts.lines, start=1):
        errors.extend(f"Line {number}: {problem}" for problem in _line_errors(line))
    if facts.lines and sum((line.amount for line in facts.lines), Decimal("0")) != facts.total:
        errors.append("The claim total does not match the sum of its lines.")
    return errors


def _line_errors(line: LineFacts) -> list[str]:
    problems = []
    if not _passes(validate_cpt, line.cpt_code):
        problems.append(f"procedure code {line.cpt_code!r} is not 5 characters (CPT).")
    if not line.diagnosis_codes:
        problems.append("no diagnosis code (ICD-10-CM) on the order.")
    malformed = [code for code in line.diagnosis_codes if not _passes(validate_icd10cm, code)]
    problems.extend(f"malformed diagnosis code {code!r}." for code in malformed)
    if not _passes(validate_npi, line.rendering_npi):
        problems.append("missing or invalid NPI of the rendering radiologist (the report must be signed final).")
    if line.fee <= 0:
        problems.append(f"no fee for {line.cpt_code} in the fee schedule.")
    if line.amount != line.fee * line.units:
        problems.append("the amount does not match fee x units.")
    return problems
