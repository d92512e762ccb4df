"""What every REST API endpoint shares: who is calling (API token, HTTP Basic, session), the role and token-scope
check, refusals mapped to HTTP 400/404, cursor pagination.

Named in settings.REST_FRAMEWORK, so it imports nothing that loads DRF's views (they read those settings).

Endpoints are thin: a serializer checks the shape of the input, one service (the same one the pages and the HL7
handlers call) applies the rule, and its `ApplicationError` comes back as a 400 with the field it names.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import authentication, exceptions, pagination, permissions, relations

from ris import security
from ris.access import shown
from ris.exceptions import ApplicationError, NotFound
from ris.models import ApiToken
from ris.roles import user_roles

JSON_REQUIRED = "Send the body as JSON (Content-Type: application/json) with token or Basic credentials."


def require_json_for_changes(request) -> None:
    """Writes with credentials a browser may attach by itself must be JSON: a cross-site form cannot send that type
    without a CORS preflight, which this server never grants."""
    if request.method in permissions.SAFE_METHODS:
        return
    media_type = (request.content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise exceptions.UnsupportedMediaType(media_type or "none", detail=JSON_REQUIRED)


class PasswordAuthentication(authentication.BasicAuthentication):
    """HTTP Basic for accounts without a second factor; people with an authenticator (or who must set one up) use
    the pages, and scripts an API token."""

    def authenticate_credentials(self, userid, password, request=None):
        user, auth = super().authenticate_credentials(userid, password, request)
        if security.has_second_factor(user) or security.needs_enrolment(user):
            raise exceptions.AuthenticationFailed(
                "This account signs in with a second factor: HTTP Basic is refused. Use an API token."
            )
        require_json_for_changes(request)
        return user, auth


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer ris_<prefix>_<secret>`: a machine client's token (ris.models.ApiToken)."""

    keyword = "Bearer"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Give the token after 'Bearer', without spaces.")
        try:
            presented = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = security.api_token_for(presented)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid, has expired or was revoked.")
        require_json_for_changes(request)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class RolePermission(permissions.BasePermission):
    """The view's `allowed_roles` may read; its `write_roles` (by default the same) may change things. A view that
    names no roles (the API root) admits any user holding a role. A read-only API token changes nothing."""

    message = "Your role does not give access to this endpoint."

    def has_permission(self, request, view) -> bool:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None and request.method not in permissions.SAFE_METHODS and not token.may_write:
            self.message = "This API token is read-only."
            return False
        roles = user_roles(request.user)
        readers = getattr(view, "allowed_roles", None)
        if readers is None:
            return bool(roles)
        wanted = readers if request.method in permissions.SAFE_METHODS else getattr(view, "write_roles", readers)
        return bool(wanted & roles)


def refusal_detail(error: ApplicationError) -> dict:
    """A service's refusal as DRF field errors: under the field it names, else under non_field_errors."""
    return {error.field or "non_field_errors": [error.message]}


def exception_handler(exc, context):
    """Business refusals and model validation become 400 (NotFound 404) with the message written for the caller."""
    from rest_framework.views import exception_handler as drf_exception_handler  # it imports this module's classes

    if isinstance(exc, NotFound):
        exc = exceptions.NotFound(exc.message)
    elif isinstance(exc, ApplicationError):
        exc = exceptions.ValidationError(refusal_detail(exc))
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    return drf_exception_handler(exc, context)


class NewestFirst(pagination.CursorPagination):
    """Stable pages however rows are added meanwhile; ?page_size up to 200."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AccessLogged:
    """Viewset mixin: the records an answer shows (one object, or a page of a list) go to the PHI access log."""

    @staticmethod
    def logged_record(found):
        """What the access log names for a row of this endpoint: the row itself."""
        return found

    def get_object(self):
        found = super().get_object()
        shown(self.request, self.logged_record(found))
        return found

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None:
            shown(self.request, *(self.logged_record(found) for found in page))
        return page


class PatientAccessLogged(AccessLogged):
    """For rows that name their patient (a coverage, a charge, a claim): each one read or listed logs that patient."""

    @staticmethod
    def logged_record(found):
        return found.patient


class SlugLookupField(relations.SlugRelatedField):
    """A related record named by a code (a payer ID, a modality code): text with a NUL byte names none, and is
    refused before the query (PostgreSQL refuses NUL in text and would answer 500)."""

    default_error_messages = {"null_characters": "Null characters are not allowed."}

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("null_characters")
        return super().to_internal_value(data)
