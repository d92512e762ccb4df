"""Core pages: the landing redirect, the administrator's home, the access log, the authenticator set-up."""

from base64 import b32encode

import segno
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe
from django_otp import login as otp_login

from ris.forms import AccessLogFilterForm
from ris.models import Role
from ris.pagination import paginate
from ris.roles import home_url_name, role_required
from ris.security import (
    REAUTH_SESSION_KEY,
    DeviceChangeForm,
    EnrolmentForm,
    device_change_allow,
    device_change_allowed,
    has_second_factor,
    needs_enrolment,
    totp_device_confirm,
    totp_device_pending,
    totp_device_remove,
)
from ris.selectors import access_records, core_counts, patients_by_pk, role_member_counts, rooms_active


@require_safe
def home(request):
    """Send each user to the home page of their role."""
    name = home_url_name(request.user)
    if name is None:
        logout(request)
        messages.error(request, "Your account has no role in the department yet; ask an administrator.")
        return redirect("login")
    return redirect(name)


@require_safe
@role_required(Role.ADMIN)
def admin_home(request):
    context = {"counts": core_counts(), "roles": role_member_counts(), "rooms": rooms_active()}
    return render(request, "ris/admin_home.html", context)


@require_safe
@role_required(Role.ADMIN)
def access_log(request):
    """Who looked at which patient's records: searched by user, patient (MRN) and days; read-only."""
    form = AccessLogFilterForm(request.GET or None)
    page = patients = None
    if not form.is_bound or form.is_valid():
        criteria = form.criteria() if form.is_bound else {}
        page = paginate(request, access_records(**criteria))
        patients = patients_by_pk(record.patient_id for record in page)
    rows = [(record, patients.get(record.patient_id)) for record in page] if page else []
    return render(request, "ris/access_log.html", {"form": form, "page": page, "rows": rows})


@role_required(Role.RADIOLOGIST, Role.ADMIN)
def two_factor(request):
    """Set up the authenticator app (TOTP): scan the code, type what the app shows; the next sign-in asks for it.

    Once one is set up, replacing or removing it takes the password and a current code of it: a session alone
    (a workstation left open) cannot move the second factor to another phone.
    """
    user = request.user
    if has_second_factor(user) and not device_change_allowed(request):
        return _two_factor_enrolled(request)
    device = totp_device_pending(user)
    form = EnrolmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if totp_device_confirm(device, form.cleaned_data["otp_token"]):
            request.session.pop(REAUTH_SESSION_KEY, None)
            otp_login(request, device)
            messages.success(request, "Your authenticator is set up: sign-ins now ask for its code.")
            return redirect("home")
        form.add_error("otp_token", "That code is not valid; check the app shows the RIS entry and try again.")
    url = device.config_url
    context = {
        "form": form,
        "qr_svg": segno.make(url, error="m").svg_inline(scale=4),
        "secret": b32encode(device.bin_key).decode(),
        "required": needs_enrolment(user),
        "replacing": has_second_factor(user),
    }
    return render(request, "registration/two_factor.html", context)


def _two_factor_enrolled(request):
    """The page of a user with an authenticator: replace it or remove it, after password and current code."""
    form = DeviceChangeForm(request.POST or None, user=request.user, request=request)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["action"] == "remove":
            totp_device_remove(user=request.user)
            messages.success(request, "Your authenticator is removed: sign-ins ask for the password only.")
            return redirect("home")
        device_change_allow(request)
        return redirect("two_factor")
    return render(request, "registration/two_factor.html", {"enrolled": True, "change_form": form})
