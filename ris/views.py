"""Core pages: the landing redirect and the administrator's home."""

from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect, render

from ris.models import Role
from ris.roles import home_url_name, role_required
from ris.selectors import core_counts, role_member_counts, rooms_active


def home(request):
    """Send each user to the home page of their role."""
    name = home_url_name(request.user)
    if name is None:
        logout(request)
        messages.error(request, "Your account has no role in the department yet; ask an administrator.")
        return redirect("login")
    return redirect(name)


@role_required(Role.ADMIN)
def admin_home(request):
    context = {"counts": core_counts(), "roles": role_member_counts(), "rooms": rooms_active()}
    return render(request, "ris/admin_home.html", context)
