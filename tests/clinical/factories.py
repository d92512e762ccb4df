"""Clinical records for tests, made through the services (history rows and all)."""

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from clinical import services
from clinical.models import Allergy, Observation, Source
from ris.models import ContrastClass
from tests.factories import TEST_ACTOR


def contrast_allergy(patient, *, contrast_class=ContrastClass.IODINATED, reaction="urticaria", **kwargs) -> Allergy:
    return services.allergy_add(
        patient=patient,
        allergen_text=kwargs.pop("allergen_text", "Iodinated contrast media"),
        allergy_type=Allergy.Type.DRUG,
        contrast_class=contrast_class,
        severity=kwargs.pop("severity", Allergy.Severity.MODERATE),
        reaction=reaction,
        acting_user=kwargs.pop("acting_user", TEST_ACTOR),
        **kwargs,
    )


def observation(patient, kind: str, value, unit: str = "", *, at: datetime | None = None, **kwargs) -> Observation:
    return services.observation_record(
        patient=patient,
        kind=kind,
        value_text=str(Decimal(str(value))),
        unit=unit or Observation.UNITS.get(kind, ""),
        observed_at=at or timezone.now(),
        acting_user=kwargs.pop("acting_user", TEST_ACTOR),
        source=kwargs.pop("source", Source.STAFF),
        **kwargs,
    )


def egfr(patient, value, *, at: datetime | None = None, **kwargs) -> Observation:
    return observation(patient, Observation.Kind.EGFR, value, at=at, code="98979-8", coding_system="LN", **kwargs)
