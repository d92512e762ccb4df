"""Sign-in hardening: the second factor (TOTP through django-otp) and the inactivity keep-alive.

Failed sign-ins are counted and locked out by django-axes (settings.AXES_*); a wrong authenticator code counts as
a failed sign-in too, so the six digits cannot be guessed either.
"""

from django import forms
from django.conf import settings
from django.contrib.auth import user_login_failed
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_safe
from django_otp import devices_for_user, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from ris.models import Role
from ris.roles import user_roles

CODE_HELP = "The 6-digit code your authenticator app shows for the RIS."


def second_factor_roles() -> frozenset[Role]:
    return frozenset(Role(value) for value in settings.RIS_OTP_ROLES)


def may_use_second_factor(user) -> bool:
    return bool(user_roles(user) & second_factor_roles())


def needs_enrolment(user) -> bool:
    """RIS_OTP_REQUIRED and a radiologist or administrator without a confirmed authenticator."""
    return settings.RIS_OTP_REQUIRED and may_use_second_factor(user) and not user_has_device(user)


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
        devices = list(devices_for_user(user, confirmed=True))
        if not devices:
            return cleaned
        token = (cleaned.get("otp_token") or "").strip()
        device = next((device for device in devices if token and device.verify_token(token)), None)
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
def totp_device_confirm(device: TOTPDevice, token: str) -> bool:
    """Confirm a pending authenticator with a code it produced; other devices of the user are removed."""
    if not device.verify_token(token.strip()):
        return False
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


class SecondFactorMiddleware:
    """With RIS_OTP_REQUIRED, a radiologist or administrator without an authenticator sees only the set-up page
    (and may sign out) until one is confirmed."""

    allowed_names = frozenset({"two_factor", "logout", "login", "keep_alive"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not (user.is_authenticated and needs_enrolment(user)):
            return None
        if request.resolver_match.url_name in self.allowed_names or request.path_info.startswith(("/api/", "/fhir/")):
            return None
        return redirect("two_factor")


@require_safe
def keep_alive(request):
    """A signed-in page's 'Stay signed in': any request renews the session (SESSION_SAVE_EVERY_REQUEST)."""
    response = HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    return response
