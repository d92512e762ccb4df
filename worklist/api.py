"""UPS-RS, the DICOMweb Worklist Service (PS3.18 11), under /api/dicomweb/: Search Workitems, Retrieve Workitem,
Update Workitem and Change Workitem State over the exams (worklist.workitems).

Authenticated like the REST API (HTTP Basic, an API token or the session; 401 with a challenge, never a login
page), for technologists and administrators. Answers are application/dicom+json (application/json is accepted
too); a refusal has the HTTP status PS3.18 names and, where it names one, the Warning header
("299 <service>: <text>").
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ris.access import shown
from ris.drf import RolePermission
from ris.drf import exception_handler as api_exception_handler
from ris.models import Role
from ris.text import fold
from scheduling.models import Exam
from worklist import ups, ups_search, workitems

DICOM_JSON = "application/dicom+json"
ACCEPTED = frozenset({DICOM_JSON, "application/json", "*/*", "application/*"})


class DicomJsonRenderer(JSONRenderer):
    media_type = DICOM_JSON
    format = "json"


class DicomJsonParser(JSONParser):
    media_type = DICOM_JSON


class DicomJsonNegotiation(BaseContentNegotiation):
    """DICOM JSON always; 406 when the Accept header asks only for something else (XML, multipart)."""

    def select_parser(self, request, parsers):
        media_type = (request.content_type or "").split(";", 1)[0].strip().lower()
        for parser in parsers:
            if parser.media_type == media_type:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", "")
        ranges = {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}
        if ranges and not ranges & ACCEPTED:
            raise exceptions.NotAcceptable(f"This origin server answers {DICOM_JSON} only.")
        return renderers[0], renderers[0].media_type


def warning_header(request, text: str) -> dict[str, str]:
    """The Warning header as PS3.18 11 writes it: "299 <service>: <text>", the origin server as the service."""
    return {"Warning": f"299 {request.get_host()}: {text}"} if text else {}


def exception_handler(exc, context):
    request = context["request"]
    if isinstance(exc, workitems.WorkitemRefusal):
        return Response({"detail": exc.message}, status=exc.http_status, headers=warning_header(request, exc.warning))
    if isinstance(exc, ups_search.InvalidSearch | ups.InvalidPayload):
        return Response({"detail": str(exc)}, status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    return api_exception_handler(exc, context)  # another refusal of a service: 400 with its message, as the API


class UpsView(APIView):
    """What every UPS-RS endpoint shares: the roles, DICOM JSON, the refusals as PS3.18 names them; not in the
    OpenAPI schema of /api/ (DICOMweb is described by docs/dicom-conformance.md)."""

    schema = None
    allowed_roles = frozenset({Role.TECHNOLOGIST, Role.ADMIN})
    permission_classes = [IsAuthenticated, RolePermission]
    renderer_classes = [DicomJsonRenderer]
    parser_classes = [DicomJsonParser, JSONParser]
    content_negotiation_class = DicomJsonNegotiation

    def get_exception_handler(self):
        return exception_handler

    def payload(self, request) -> dict:
        try:
            body = request.data
        except exceptions.ParseError:
            raise ups.InvalidPayload("The body is not JSON.") from None
        if not isinstance(body, list | dict) or not body:
            raise ups.InvalidPayload("Send a DICOM JSON dataset (Content-Type: application/dicom+json).")
        return ups.payload_dataset(body)


class SearchView(UpsView):
    """GET /workitems?{query}: Search Workitems (PS3.18 11.9). 200 with the matches, 204 when there are none."""

    http_method_names = ["get", "head"]

    def get(self, request):
        search = ups_search.parse_search(
            [(name, value) for name, values in request.query_params.lists() for value in values],
            tz=timezone.get_current_timezone(),
            fold=fold,
            default_statuses=settings.RIS_MWL_STATUSES,
            max_limit=settings.RIS_MWL_MAX_MATCHES,
        )
        result = workitems.workitems_search(search)
        warnings = []
        if search.fuzzy_ignored:
            warnings.append("The fuzzymatching parameter is not supported. Only literal matching has been performed.")
        if search.not_returned:
            warnings.append("The following includefield attributes are not returned: " + ", ".join(search.not_returned))
        if result.more:
            warnings.append("There are additional results that can be requested.")
        headers = {}
        if warnings:
            headers["Warning"] = ", ".join(warning_header(request, text)["Warning"] for text in warnings)
        if not result.datasets:
            return Response(status=204, headers=headers)
        shown(request, *Exam.objects.filter(pk__in=result.exam_ids).order_by("pk"))
        return Response(result.datasets, headers=headers)


class WorkitemView(UpsView):
    """GET /workitems/{workitem}: Retrieve Workitem (PS3.18 11.5); POST /workitems/{workitem}?{transaction}: Update
    Workitem (PS3.18 11.6), the Transaction UID as the query (or in the payload)."""

    http_method_names = ["get", "head", "post"]

    def get(self, request, workitem: str):
        dataset, item = workitems.workitem_get(workitem)
        shown(request, item.exam)
        return Response([dataset])

    def post(self, request, workitem: str):
        query = request.META.get("QUERY_STRING", "").strip()
        transaction_uid = query if "=" not in query else request.query_params.get("transaction", "").strip()
        dataset = self.payload(request)
        workitems.workitem_update(
            sop_instance_uid=workitem, dataset=dataset, transaction_uid=transaction_uid, acting_user=request.user
        )
        return Response(status=200)


class StateView(UpsView):
    """PUT /workitems/{workitem}/state: Change Workitem State (PS3.18 11.7): Procedure Step State (0074,1000) and
    Transaction UID (0008,1195) in the payload."""

    http_method_names = ["put"]

    def put(self, request, workitem: str):
        dataset = self.payload(request)
        change = workitems.workitem_change_state(
            sop_instance_uid=workitem,
            state=ups.single_text(dataset, ups.STATE_TAG).upper(),
            transaction_uid=ups.single_text(dataset, ups.TRANSACTION_UID),
            acting_user=request.user,
        )
        return Response(status=200, headers=warning_header(request, change.warning))
