"""The core domain: people, places and the procedure catalog every other app builds on."""

from ris.models.access import AccessRecord
from ris.models.accounts import Role, User
from ris.models.catalog import ContrastClass, Modality, OpeningHours, ProcedureType, Room
from ris.models.imports import CatalogImport
from ris.models.outbox import OutboxEvent
from ris.models.parties import Facility, Payer, ReferringPhysician
from ris.models.patients import Coverage, Patient
from ris.models.sequences import IdentifierSequence
from ris.models.tokens import ApiToken

__all__ = [
    "AccessRecord",
    "ApiToken",
    "CatalogImport",
    "ContrastClass",
    "Coverage",
    "Facility",
    "IdentifierSequence",
    "Modality",
    "OpeningHours",
    "OutboxEvent",
    "Patient",
    "Payer",
    "ProcedureType",
    "ReferringPhysician",
    "Role",
    "Room",
    "User",
]
