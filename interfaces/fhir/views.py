"""The FHIR R4 endpoints: read and search of each resource type, the CapabilityStatement, and OperationOutcomes.

Django REST framework authenticates (HTTP Basic, token or session, as settings.REST_FRAMEWORK names them) and
checks the role: the clinical roles (ris.roles.CLINICAL) only, so a billing clerk gets 403 on every endpoint, and a
caller without credentials 401 with a Basic challenge, never the login page (the URLs are exempt from the login
middleware). Every answer is application/fhir+json; every refusal an OperationOutcome with its HTTP status.
GET /fhir/r4/metadata is public: it describes the server, not its data.
"""

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.urls import reverse
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from interfaces.fhir import clinical, resources
from interfaces.fhir.search import RESOURCE_TYPES, ResourceType, SearchError, capability_params, read, search
from ris.access import shown
from ris.drf import RolePermission
from ris.roles import CLINICAL

BUILDERS = {
    "Patient": resources.patient,
    "ServiceRequest": resources.service_request,
    "Appointment": resources.appointment,
    "ImagingStudy": resources.imaging_study,
    "DiagnosticReport": resources.diagnostic_report,
    "AllergyIntolerance": clinical.allergy_intolerance,
    "Observation": clinical.observation,
}

# What a client may ask for: FHIR JSON under any of its names (R4 _format values, the MIME types, DSTU2's).
JSON_FORMATS = frozenset({"json", "application/fhir+json", "application/json", "application/json+fhir", "text/json"})
ANY_FORMAT = frozenset({"*/*", "application/*"})

ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    415: "not-supported",
    429: "throttled",
}


class FhirJsonRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "json"
    charset = "utf-8"


class FhirNegotiation(BaseContentNegotiation):
    """Always FHIR JSON; 406 when `_format` or the Accept header asks for something else only (XML, say)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        wanted = request.query_params.get("_format", "").strip().replace(" ", "+").lower()  # "+" arrives as " "
        if wanted and wanted not in JSON_FORMATS:
            raise exceptions.NotAcceptable(f"_format={wanted}: this server answers JSON only (_format=json).")
        accept = request.META.get("HTTP_ACCEPT", "")
        ranges = {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}
        if not wanted and ranges and not ranges & (JSON_FORMATS | ANY_FORMAT):
            raise exceptions.NotAcceptable("This server answers application/fhir+json only.")
        return renderer, renderer.media_type


def exception_handler(exc, context):
    """Every refusal as an OperationOutcome with its status (and the headers DRF gives it: the Basic challenge)."""
    if isinstance(exc, SearchError):
        return Response(resources.operation_outcome(exc.code, exc.message), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 handling, not a made-up outcome
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    outcome = resources.operation_outcome(ISSUE_CODES.get(exc.status_code, "exception"), _message(exc.detail))
    return Response(outcome, status=exc.status_code, headers=headers)


def _message(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_message(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_message(item) for item in detail)
    return str(detail)


def _unique(records) -> list:
    """Each record once (the clinical resources of one patient all log that patient)."""
    return list({(record._meta.label_lower, record.pk): record for record in records}.values())


class FhirView(APIView):
    """What every FHIR endpoint shares: the clinical roles, FHIR JSON, OperationOutcomes; not in the OpenAPI
    schema of /api/ (FHIR has its own: the CapabilityStatement)."""

    schema = None
    http_method_names = ["get", "head"]  # read and search only: anything else is 405 (Allow: GET, HEAD)
    allowed_roles = CLINICAL
    permission_classes = [IsAuthenticated, RolePermission]
    renderer_classes = [FhirJsonRenderer]
    parser_classes = []
    content_negotiation_class = FhirNegotiation

    def get_exception_handler(self):
        return exception_handler

    def get_renderer_context(self):
        context = super().get_renderer_context()
        if self.request.query_params.get("_pretty") == "true":
            context["indent"] = 2
        return context

    def links(self) -> resources.Links:
        base = self.request.build_absolute_uri(reverse("fhir:metadata")).removesuffix("metadata")
        return resources.Links(base=base, absolute=self.request.build_absolute_uri)


class SearchView(FhirView):
    """GET /fhir/r4/<Type>?params: a searchset Bundle, `_count` a page (default 50, at most 200), `_offset` on."""

    resource: ResourceType | None = None

    def get(self, request):
        lenient = "handling=lenient" in request.headers.get("Prefer", "").replace(" ", "")
        page = search(self.resource, request.user, request.query_params, lenient=lenient)
        links = self.links()
        build = BUILDERS[self.resource.name]
        found = [build(item, links) for item in page.items]
        shown(request, *_unique(self.resource.shows(item) for item in page.items))
        return Response(resources.searchset(found, total=page.total, links=links, page_links=self.page_links(page)))

    def page_links(self, page) -> dict[str, str]:
        """self (the parameters the search used), next and previous (the same, moved by _offset)."""
        left_out = {*page.ignored, "_offset"}
        pairs = [(name, value) for name, values in self.request.query_params.lists() for value in values]
        used = [(name, value) for name, value in pairs if name not in left_out]
        here = self.request.build_absolute_uri(self.request.path)

        def at(offset: int) -> str:
            query = urlencode([*used, ("_offset", offset)] if offset else used)
            return f"{here}?{query}" if query else here

        page_links = {"self": at(page.offset)}
        if page.has_next:
            page_links["next"] = at(page.offset + page.count)
        if page.offset and page.count:
            page_links["previous"] = at(max(page.offset - page.count, 0))
        return page_links


class ReadView(FhirView):
    """GET /fhir/r4/<Type>/<id>: the resource, or 404 when there is none the user may see."""

    resource: ResourceType | None = None

    def get(self, request, resource_id: str):
        found = read(self.resource, request.user, resource_id)
        if found is None:
            raise exceptions.NotFound(f"{self.resource.name}/{resource_id} is not known.")
        shown(request, self.resource.shows(found))
        return Response(BUILDERS[self.resource.name](found, self.links()))


class UnknownView(FhirView):
    """Any other path under /fhir/r4/: 404 (after authentication: the server's shape is no secret, its data is)."""

    def get(self, request, path: str = ""):
        resource_type = path.split("/", 1)[0]
        if not resource_type:
            raise exceptions.NotFound("Name a resource type: " + ", ".join(RESOURCE_TYPES) + " (or metadata).")
        if resource_type in RESOURCE_TYPES:
            raise exceptions.NotFound(f"{path} is not a FHIR interaction this server supports (read and search).")
        raise exceptions.NotFound(
            f"Unknown resource type {resource_type!r}; this server has: {', '.join(RESOURCE_TYPES)}."
        )

    post = put = patch = delete = options = get
    http_method_names = ["get", "head", "post", "put", "patch", "delete", "options"]


class MetadataView(FhirView):
    """GET /fhir/r4/metadata: the CapabilityStatement, public."""

    authentication_classes = []
    permission_classes = [AllowAny]
    allowed_roles = None

    def get(self, request):
        return Response(resources.capability_statement(self.links(), capability_params()))
