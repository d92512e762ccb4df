"""The PHI access log: every page, API answer and FHIR resource that shows a patient, order, exam or report leaves
an AccessRecord naming who saw it, when, from which address and through which channel.

Views say what they showed with `shown(request, *objects)`; `AccessLogMiddleware` writes the records in one insert
once the response is known to be a success (a refused or failed request showed nothing).
"""

import functools
import ipaddress
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.db.models import Model
from django.utils import timezone

from ris.models import AccessRecord, Patient

KINDS = {
    "ris.patient": AccessRecord.Kind.PATIENT,
    "scheduling.order": AccessRecord.Kind.ORDER,
    "scheduling.exam": AccessRecord.Kind.EXAM,
    "reporting.report": AccessRecord.Kind.REPORT,
}
LOGGED_METHODS = frozenset({"GET", "HEAD"})  # reads; every change leaves a history row instead
# Query parameters whose values are codes, dates, IDs or page numbers: kept in the logged path. Any other value
# (a search's ?q=, FHIR's ?name= or ?birthdate=) may hold a name or a birth date and is logged as "*".
PLAIN_QUERY_KEYS = frozenset(
    {
        "page",
        "page_size",
        "status",
        "ordering",
        "format",
        "modality",
        "priority",
        "date_from",
        "date_to",
        "days",
        "version",
        "exam",
        "patient",
        "order",
        "claim",
        "batch",
        "payer",
        "cpt_code",
        "room",
        "direction",
        "message_type",
        "_count",
        "_format",
    }
)


def shown(request, *objects: Model) -> None:
    """Note that this request showed `objects` (patients, orders, exams, reports; DRF or Django requests)."""
    request = getattr(request, "_request", request)  # DRF wraps Django's request
    noted = request.__dict__.setdefault("_phi_shown", [])
    for item in objects:
        kind = KINDS.get(item._meta.label_lower)
        if kind is None:
            raise TypeError(f"{item._meta.label} is not a record the access log knows.")
        noted.append((kind, item))


def shown_patients_with_mrn(request, mrns: Iterable[str]) -> None:
    """Note the patients a page showed by MRN as another system sent it (an HL7 message, a modality's MPPS)."""
    wanted = {mrn for mrn in mrns if mrn}
    if wanted:
        shown(request, *Patient.objects.filter(mrn__in=wanted).order_by("pk"))


def shown_in_answer(request) -> None:
    """This POST's answer shows what it noted (a form re-rendered with its error): log it as a read.

    Other POSTs note records too (the editor's autosave) but answer with a redirect or JSON: not logged.
    """
    getattr(request, "_request", request)._phi_in_answer = True


def _patient_ids(noted: list[tuple[str, Model]]) -> dict[tuple[str, int], int]:
    """The patient of each noted record, with one query per kind that needs one."""
    from reporting.models import Report
    from scheduling.models import Exam

    found: dict[tuple[str, int], int] = {}
    wanted: dict[str, set[int]] = {AccessRecord.Kind.EXAM: set(), AccessRecord.Kind.REPORT: set()}
    for kind, item in noted:
        if kind == AccessRecord.Kind.PATIENT:
            found[kind, item.pk] = item.pk
        elif kind == AccessRecord.Kind.ORDER:
            found[kind, item.pk] = item.patient_id
        else:
            wanted[kind].add(item.pk)
    if wanted[AccessRecord.Kind.EXAM]:
        rows = Exam.objects.filter(pk__in=wanted[AccessRecord.Kind.EXAM]).values_list("pk", "order__patient_id")
        found.update(((AccessRecord.Kind.EXAM, pk), patient) for pk, patient in rows)
    if wanted[AccessRecord.Kind.REPORT]:
        rows = Report.objects.filter(pk__in=wanted[AccessRecord.Kind.REPORT]).values_list(
            "pk", "exam__order__patient_id"
        )
        found.update(((AccessRecord.Kind.REPORT, pk), patient) for pk, patient in rows)
    return found


def client_address(request) -> str | None:
    """The caller's address. X-Forwarded-For counts only when the socket's peer is a trusted proxy
    (RIS_TRUSTED_PROXIES): its hops are read from the right, past the trusted proxies, to the first other address,
    the one a trusted proxy saw. Anyone else is known by the socket's address, whatever header they send."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = _networks(tuple(settings.RIS_TRUSTED_PROXIES))
    if remote is None or not _within(remote, proxies):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    found = remote
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # not an address: nothing left of it can be believed
        found = hop
        if not _within(hop, proxies):
            break
    return found


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _within(address: str, networks) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def channel_of(path: str) -> str:
    if path.startswith("/api/"):
        return AccessRecord.Channel.API
    if path.startswith("/fhir/"):
        return AccessRecord.Channel.FHIR
    return AccessRecord.Channel.PAGE


def logged_path(request) -> str:
    """The path with its query, each value that may hold a name or birth date replaced by "*"."""
    pairs = parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True)
    if not pairs:
        return request.path
    query = urlencode([(key, value if key in PLAIN_QUERY_KEYS else "*") for key, value in pairs], safe="*")
    return f"{request.path}?{query}"


def record(request, noted: list[tuple[str, Model]]) -> list[AccessRecord]:
    user = request.user if request.user.is_authenticated else None
    patients = _patient_ids(noted)
    now = timezone.now()
    common = {
        "at": now,
        "user": user,
        "username": user.get_username() if user else "",
        "address": client_address(request),
        "channel": channel_of(request.path),
        "method": request.method[:8],
        "path": logged_path(request)[:500],
    }
    seen: set[tuple[str, int]] = set()
    records = []
    for kind, item in noted:
        key = (kind, item.pk)
        if key in seen or key not in patients:
            continue
        seen.add(key)
        records.append(AccessRecord(kind=kind, object_id=item.pk, patient_id=patients[key], **common))
    return AccessRecord.objects.bulk_create(records)


class AccessLogMiddleware:
    """Writes the access records a successful request noted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        noted = request.__dict__.get("_phi_shown")
        read = request.method in LOGGED_METHODS or request.__dict__.get("_phi_in_answer", False)
        if noted and response.status_code < 400 and read:
            record(request, noted)
        return response
