"""Demo billing set-up: a default fee schedule for the demo catalog (global, professional 26, technical TC),
an NPI for the demo radiologists, and the demo exams' open charges priced from it."""

from decimal import ROUND_HALF_UP, Decimal

from billing.models import Fee, FeeSchedule
from billing.services import charges_reprice
from ris.demo import valid_npi
from ris.models import ProcedureType, Role, User

BASE_FEE = {"CT": 450, "MR": 900, "US": 220, "DX": 95, "CR": 95, "MG": 180, "NM": 600, "PT": 1500}
PROFESSIONAL_SHARE = Decimal("0.22")  # of the global fee, roughly as the Medicare PFS splits imaging


def seed(*, rng, actor, log) -> None:
    schedule, _ = FeeSchedule.objects.get_or_create(name="Default", payer=None)
    for procedure in ProcedureType.objects.select_related("modality"):
        total = Decimal(BASE_FEE.get(procedure.modality.code, 200))
        professional = (total * PROFESSIONAL_SHARE).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
        for modifier, amount in (("", total), ("26", professional), ("TC", total - professional)):
            Fee.objects.get_or_create(
                schedule=schedule, cpt_code=procedure.cpt_code, modifier=modifier, defaults={"amount": amount}
            )
    for user in User.objects.filter(groups__name=Role.RADIOLOGIST.label, npi=""):
        user.npi = valid_npi(rng)
        user.save(update_fields=["npi"])
    repriced = charges_reprice(acting_user=actor)
    log(f"Billing: default fee schedule with {schedule.fees.count()} fees; {repriced} open charges priced.")
