"""Roles: who may use which page. Each role is a Django group; a page names the roles it admits."""

from collections.abc import Callable, Iterable
from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed

from ris.models import Role

# Where each role lands after login (URL names), in the order used when a user holds several roles.
ROLE_HOME: dict[Role, str] = {
    Role.ADMIN: "ris:admin_home",
    Role.FRONT_DESK: "scheduling:home",
    Role.TECHNOLOGIST: "worklist:home",
    Role.RADIOLOGIST: "reporting:home",
    Role.MR_SAFETY_OFFICER: "clinical:mr_home",
    Role.BILLING: "billing:home",
}

CLINICAL = frozenset({Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN})


def user_roles(user) -> frozenset[Role]:
    """The roles a user holds (a superuser holds the administrator's); cached on the user object."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_ris_roles", None)
    if cached is None:
        by_label = {role.label: role for role in Role}
        names = user.groups.values_list("name", flat=True)
        cached = frozenset(by_label[name] for name in names if name in by_label)
        if user.is_superuser:
            cached |= {Role.ADMIN}
        user._ris_roles = cached
    return cached


def user_with_role(username: str, *roles: Role):
    """The active user named `username` holding one of `roles` (for commands run in someone's name), else None."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    return user if user is not None and user_roles(user) & set(roles) else None


def home_url_name(user) -> str | None:
    roles = user_roles(user)
    return next((name for role, name in ROLE_HOME.items() if role in roles), None)


def allows(view: Callable, user) -> bool:
    """Whether `view` (as resolved from a URL) admits `user`; views without a role list admit any user."""
    allowed = getattr(view, "allowed_roles", None)
    return allowed is None or bool(allowed & user_roles(user))


PAGE_METHODS = ("GET", "HEAD", "POST")  # pages are read and their forms posted; PUT, PATCH, DELETE are the API's


def role_required(*roles: Role) -> Callable:
    """Admit only users holding one of `roles`: anonymous users go to the login page, others get 403."""
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in PAGE_METHODS:
                return HttpResponseNotAllowed(PAGE_METHODS)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not allowed & user_roles(request.user):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = allowed
        return wrapped

    return decorator


# --- Used by data migrations: each app grants its own model permissions to the role groups ------------------


def grant_permissions(apps, app_label: str, grants: dict[Role, Iterable[str]]) -> None:
    """Give each role's group the named permissions (codenames) of `app_label`, creating what is missing."""
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config(app_label)
    app_config.models_module = True  # historical app configs lack it; create_permissions skips them otherwise
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in grants.items():
        group, _ = Group.objects.get_or_create(name=role.label)
        codenames = set(codenames)
        found = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        missing = codenames - set(found.values_list("codename", flat=True))
        if missing:
            raise RuntimeError(f"Unknown permissions for {app_label}: {sorted(missing)}")
        group.permissions.add(*found)


def model_permissions(models: Iterable[str], actions: Iterable[str]) -> list[str]:
    """['view_patient', 'change_patient', ...] for each model name and action."""
    return [f"{action}_{model}" for model in models for action in actions]
