"""Kidney function: serum creatinine in one unit, and eGFR by the race-free CKD-EPI 2021 creatinine equation.

CKD-EPI 2021 (Inker et al., N Engl J Med 2021;385:1737-49):
    eGFR = 142 * min(Scr/k, 1)^a * max(Scr/k, 1)^-1.200 * 0.9938^age [* 1.012 if female]
with Scr in mg/dL, k = 0.7 (female) or 0.9 (male), a = -0.241 (female) or -0.302 (male); mL/min/1.73 m2.
The equation is for adults: no eGFR is computed for a patient under 18 or of unknown sex.
"""

from decimal import ROUND_HALF_UP, Decimal

CREATININE_UMOL_PER_MG_DL = Decimal("88.42")  # 1 mg/dL of creatinine = 88.42 umol/L


def creatinine_mg_dl(value: Decimal, unit: str) -> Decimal | None:
    """Serum creatinine in mg/dL from a value in mg/dL or umol/L (as HL7 senders spell them), else None."""
    spelled = unit.strip().lower().replace("μ", "u").replace("µ", "u").replace(" ", "")
    if spelled in ("mg/dl", "mg/100ml", "mg%"):
        return value
    if spelled in ("umol/l", "micromol/l", "umol/liter"):
        return value / CREATININE_UMOL_PER_MG_DL
    if spelled in ("mmol/l",):
        return value * 1000 / CREATININE_UMOL_PER_MG_DL
    return None


def ckd_epi_2021(creatinine: Decimal | float, *, age_years: int, sex: str) -> Decimal | None:
    """eGFR (mL/min/1.73 m2, one decimal) from serum creatinine in mg/dL; None where the equation does not apply."""
    scr = float(creatinine)
    if sex not in ("F", "M") or age_years < 18 or scr <= 0:
        return None
    female = sex == "F"
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = scr / kappa
    egfr = 142 * min(ratio, 1) ** alpha * max(ratio, 1) ** -1.200 * 0.9938**age_years
    if female:
        egfr *= 1.012
    return Decimal(str(egfr)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
