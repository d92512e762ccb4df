"""Sign-in hardening: the second factor (TOTP through django-otp), the per-address limit, API tokens and the
inactivity keep-alive.

Failed sign-ins are counted and locked out by django-axes (settings.AXES_*); a wrong authenticator code counts as
a failed sign-in too, so the six digits cannot be guessed either. Every sign-in, the Django admin's included, goes
through SignInView; a session of a user with an authenticator is refused until it is verified (SecondFactorMiddleware).
"""

import secrets
from datetime import UTC, datetime

from django import forms
from django.conf import settings
from django.contrib.auth import SESSION_KEY, authenticate, logout, user_login_failed
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Sum
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_safe
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from ris.access import client_address
from ris.models import ApiToken, Role
from ris.models.tokens import TOKEN_MARK, token_digest
from ris.roles import user_roles

CODE_HELP = "The 6-digit code your authenticator app shows for the RIS."


def second_factor_roles() -> frozenset[Role]:
    return frozenset(Role(value) for value in settings.RIS_OTP_ROLES)


def may_use_second_factor(user) -> bool:
    return bool(user_roles(user) & second_factor_roles())


def needs_enrolment(user) -> bool:
    """RIS_OTP_REQUIRED and a radiologist or administrator without a confirmed authenticator."""
    return settings.RIS_OTP_REQUIRED and may_use_second_factor(user) and not user_has_device(user)


def has_second_factor(user) -> bool:
    """The user has a confirmed authenticator: password alone is never enough for them."""
    return user_has_device(user, confirmed=True)


def verify_current_code(user, token: str):
    """The user's confirmed device that accepts `token` (django-otp throttles repeated misses), else None."""
    token = (token or "").strip()
    if not token:
        return None
    return next((device for device in devices_for_user(user, confirmed=True) if device.verify_token(token)), None)


class SignInForm(AuthenticationForm):
    """Username and password, and the authenticator's code for users who have set one up."""

    otp_error = ""

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=8,
        help_text=CODE_HELP + " Leave empty if you have not set one up.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean(self):
        cleaned = super().clean()  # the password (and axes' lockout) first
        user = self.get_user()
        if user is None:
            return cleaned
        if not has_second_factor(user):
            return cleaned
        token = (cleaned.get("otp_token") or "").strip()
        device = verify_current_code(user, token)
        if device is None:
            user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=self.request)
            self.user_cache = None
            self.otp_error = "That code is not valid." if token else "Enter the code from your authenticator app."
            raise forms.ValidationError(self.otp_error, code="otp")
        self.otp_device = device
        return cleaned


class SignInView(LoginView):
    form_class = SignInForm
    redirect_authenticated_user = True
    http_method_names = ["get", "head", "post"]

    def form_valid(self, form):
        response = super().form_valid(form)
        device = getattr(form, "otp_device", None)
        if device is not None:
            otp_login(self.request, device)
        return response


class EnrolmentForm(forms.Form):
    otp_token = forms.CharField(label="Code from the app", max_length=8, help_text=CODE_HELP)


@transaction.atomic
def totp_device_pending(user) -> TOTPDevice:
    """The user's authenticator being set up (unconfirmed), created once."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)
    return device


@transaction.atomic
def totp_device_remove(*, user) -> int:
    """Remove the user's authenticators (confirmed and pending); the next sign-in asks for the password only."""
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    return removed


class DeviceChangeForm(forms.Form):
    """Replacing or removing an authenticator: the account's password and a current code of the device in use."""

    action = forms.ChoiceField(choices=[("replace", "Replace"), ("remove", "Remove")], widget=forms.HiddenInput)
    password = forms.CharField(label="Your password", strip=False, widget=forms.PasswordInput)
    otp_token = forms.CharField(label="Code from your current authenticator", max_length=8, help_text=CODE_HELP)

    def __init__(self, *args, user, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.request = user, request

    def clean(self):
        cleaned = super().clean()
        password, token = cleaned.get("password"), cleaned.get("otp_token")
        if password is None or token is None:
            return cleaned
        # Through authenticate(): a locked-out account or address is refused, and a wrong password counts.
        username = self.user.get_username()
        if authenticate(self.request, username=username, password=password) != self.user:
            raise forms.ValidationError("The password or the code is not valid.", code="reauth")
        if verify_current_code(self.user, token) is None:  # a wrong code counts towards the lockout too
            user_login_failed.send(sender=__name__, credentials={"username": username}, request=self.request)
            raise forms.ValidationError("The password or the code is not valid.", code="reauth")
        return cleaned


REAUTH_SESSION_KEY = "ris_two_factor_reauth"
REAUTH_SECONDS = 600


def device_change_allow(request) -> None:
    """Note in the session that the user has just proved password and code: a new device may be set up."""
    request.session[REAUTH_SESSION_KEY] = timezone.now().timestamp()


def device_change_allowed(request) -> bool:
    since = request.session.get(REAUTH_SESSION_KEY)
    return since is not None and timezone.now().timestamp() - since < REAUTH_SECONDS


@transaction.atomic
def totp_device_confirm(device: TOTPDevice, token: str) -> bool:
    """Confirm a pending authenticator with a code it produced; other devices of the user are removed."""
    if not device.verify_token(token.strip()):
        return False
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


class SecondFactorMiddleware:
    """A session of a user with an authenticator must have been verified with its code (django-otp's
    `is_verified`): any other session (one from a sign-in that skipped the code) is ended at its next request.
    With RIS_OTP_REQUIRED, a radiologist or administrator without an authenticator sees only the set-up page
    (and may sign out) until one is confirmed."""

    allowed_names = frozenset({"two_factor", "logout", "login", "keep_alive"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated:
            return None
        if not user.is_verified() and has_second_factor(user):
            logout(request)
            if not getattr(view_func, "login_required", True) or request.path_info.startswith(("/api/", "/fhir/")):
                return None  # the sign-in page, or DRF: it now answers as to an anonymous caller
            return redirect_to_login(request.get_full_path())
        if not needs_enrolment(user):
            return None
        if request.resolver_match.url_name in self.allowed_names or request.path_info.startswith(("/api/", "/fhir/")):
            return None
        return redirect("two_factor")


@require_safe
def keep_alive(request):
    """A signed-in page's 'Stay signed in': a request of the user's own, so it renews the session
    (SessionIdleMiddleware)."""
    response = HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    return response


# --- inactivity ---------------------------------------------------------------------------------------------------

BACKGROUND_HEADER = "X-RIS-Background"  # "1" on what a page sends by itself (the editor's claim renewal)
LAST_ACTIVITY_KEY = "ris_last_activity"


class SessionIdleMiddleware:
    """A signed-in session ends SESSION_COOKIE_AGE seconds after the user's last request of their own.

    A page's background request (header X-RIS-Background: 1) is answered but is no activity: it neither moves the
    last activity nor pushes out the session's expiry (SESSION_SAVE_EVERY_REQUEST would), so an unattended
    workstation whose editor renews its reading claim every minute still signs out. Placed after the
    authentication middleware and before anything that looks at the user.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        now = timezone.now().timestamp()
        session = request.session
        last = session.get(LAST_ACTIVITY_KEY)
        if SESSION_KEY in session and last is not None and now - last >= settings.SESSION_COOKIE_AGE:
            logout(request)  # the next check (sign-in required) sends a page to the sign-in page
        response = self.get_response(request)
        session = request.session  # a sign-in or sign-out in the view may have replaced it
        if SESSION_KEY not in session:
            return response  # nobody signed in (or HTTP Basic / token on the API: no session to keep)
        last = session.get(LAST_ACTIVITY_KEY)
        if request.headers.get(BACKGROUND_HEADER) == "1" and last is not None:
            end = last + settings.SESSION_COOKIE_AGE
            session.set_expiry(datetime.fromtimestamp(end, tz=UTC))  # saved as is: the deadline stays put
        else:
            session[LAST_ACTIVITY_KEY] = now
            session.set_expiry(None)  # SESSION_COOKIE_AGE from now
        return response


@login_not_required
def admin_login(request, extra_context=None):
    """The Django admin's sign-in page: the RIS sign-in (password and authenticator code), then back. A signed-in
    user the admin refused is not staff: 403, not a loop through the sign-in page."""
    if request.user.is_authenticated:
        raise PermissionDenied("The Django admin is for staff administrators.")
    return redirect_to_login(request.GET.get("next") or "/admin/")


# --- lockout of an address across accounts (password spraying) -------------------------------------------------


def address_failures(address: str | None) -> int:
    """Failed sign-ins from `address` within the cool-off, summed over every username axes counted."""
    from axes.models import AccessAttempt

    if not address:
        return 0
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    found = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since)
    return found.aggregate(total=Sum("failures_since_start"))["total"] or 0


class AddressLockoutBackend:
    """After RIS_LOGIN_ADDRESS_FAILURE_LIMIT failures from one address, whichever usernames they tried, refuse every
    sign-in from it until the cool-off passes. Listed after axes' backend; axes renders the locked-out page."""

    def authenticate(self, request, **credentials):
        if request is None:
            return None
        if address_failures(client_address(request)) >= settings.RIS_LOGIN_ADDRESS_FAILURE_LIMIT:
            request.axes_locked_out = True  # axes' middleware answers 429 with the locked-out page
            raise PermissionDenied("Too many failed sign-ins from this address.")
        return None  # not locked: the next backend checks the password (no get_user: it never signs anyone in)


# --- API tokens of machine clients ----------------------------------------------------------------------------


@transaction.atomic
def api_token_issue(
    *, user, name: str, scope: str = ApiToken.Scope.READ, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token acting as `user`; returns the row and the whole token, which is shown once and never stored."""
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        scope=ApiToken.Scope(scope),
        prefix=prefix,
        secret_hash=token_digest(secret),
        expires_at=expires_at,
    )
    return token, f"{TOKEN_MARK}_{prefix}_{secret}"


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token at once; it stays listed, with when it was revoked."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    return token


def api_token_for(presented: str) -> ApiToken | None:
    """The active token that `presented` (ris_<prefix>_<secret>) is, else None; notes when it was used."""
    mark, _, rest = presented.partition("_")
    prefix, _, secret = rest.partition("_")
    if mark != TOKEN_MARK or not prefix or not secret:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not token.matches(secret) or not token.is_active or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token
