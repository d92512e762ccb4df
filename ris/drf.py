"""What every REST API endpoint shares: the role check, refusals mapped to HTTP 400/404, cursor pagination.

Named in settings.REST_FRAMEWORK, so it imports nothing that loads DRF's views (they read those settings).

Endpoints are thin: a serializer checks the shape of the input, one service (the same one the pages and the HL7
handlers call) applies the rule, and its `ApplicationError` comes back as a 400 with the field it names.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, pagination, permissions

from ris.access import shown
from ris.exceptions import ApplicationError, NotFound
from ris.roles import user_roles


class RolePermission(permissions.BasePermission):
    """The view's `allowed_roles` may read; its `write_roles` (by default the same) may change things. A view that
    names no roles (the API root) admits any user holding a role."""

    message = "Your role does not give access to this endpoint."

    def has_permission(self, request, view) -> bool:
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

    def get_object(self):
        found = super().get_object()
        shown(self.request, found)
        return found

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None:
            shown(self.request, *page)
        return page
