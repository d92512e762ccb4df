"""What other apps let the patient search find a patient by: `ris/` imports no app, so an app that holds
identifiers naming a patient (scheduling: accession numbers) registers a lookup here in its AppConfig.ready()."""

from collections.abc import Callable, Iterable

# A lookup takes one typed token and returns the IDs of the patients it names exactly (an index-backed query).
PatientLookup = Callable[[str], Iterable[int]]

_lookups: dict[str, PatientLookup] = {}


def register_patient_lookup(name: str, lookup: PatientLookup) -> None:
    """Let patient search find patients by what `lookup` resolves (registering a name again replaces it)."""
    _lookups[name] = lookup


def patients_named_by(token: str) -> set[int]:
    """The IDs of the patients that any registered lookup finds for `token`."""
    found: set[int] = set()
    for lookup in _lookups.values():
        found.update(lookup(token))
    return found
