"""The PHI access log: every page, API answer and FHIR resource that shows a patient, order, exam or report leaves
an AccessRecord naming who saw it, when, from which address and through which channel.

Views say what they showed with `shown(request, *objects)`; `AccessLogMiddleware` writes the records in one insert
once the response is known to be a success (a refused or failed request showed nothing).
"""

from django.conf import settings
from django.db.models import Model
from django.utils import timezone

from ris.models import AccessRecord

KINDS = {
    "ris.patient": AccessRecord.Kind.PATIENT,
    "scheduling.order": AccessRecord.Kind.ORDER,
    "scheduling.exam": AccessRecord.Kind.EXAM,
    "reporting.report": AccessRecord.Kind.REPORT,
}
LOGGED_METHODS = frozenset({"GET", "HEAD"})  # reads; every change leaves a history row instead


def shown(request, *objects: Model) -> None:
    """Note that this request showed `objects` (patients, orders, exams, reports; DRF or Django requests)."""
    request = getattr(request, "_request", request)  # DRF wraps Django's request
    noted = request.__dict__.setdefault("_phi_shown", [])
    for item in objects:
        kind = KINDS.get(item._meta.label_lower)
        if kind is None:
            raise TypeError(f"{item._meta.label} is not a record the access log knows.")
        noted.append((kind, item))


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
    """The caller's address: the proxy's X-Forwarded-For (its last hop, which the proxy wrote) behind a trusted
    proxy, else the socket's."""
    if settings.RIS_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR") or None


def channel_of(path: str) -> str:
    if path.startswith("/api/"):
        return AccessRecord.Channel.API
    if path.startswith("/fhir/"):
        return AccessRecord.Channel.FHIR
    return AccessRecord.Channel.PAGE


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
        "path": request.get_full_path()[:500],
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
        if noted and response.status_code < 400 and request.method in LOGGED_METHODS:
            record(request, noted)
        return response
