"""The navigation bar: an entry shows only when the page behind it admits the user's role."""

from django.conf import settings
from django.urls import resolve, reverse

from ris.roles import allows

ENTRIES = [
    ("Front desk", "scheduling:home"),
    ("Schedule board", "scheduling:board"),
    ("Technologist", "worklist:home"),
    ("MPPS", "worklist:reconcile_list"),  # the steps to reconcile
    ("MR safety", "clinical:mr_home"),
    ("Reading", "reporting:home"),
    ("Protocols", "clinical:protocols"),
    ("Critical results", "reports:critical"),
    ("Billing", "billing:home"),
    ("Administration", "ris:admin_home"),
    ("Dashboard", "dashboard:home"),
    ("HL7 messages", "interfaces:message_log"),
]


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_entries": []}
    entries = []
    for label, name in ENTRIES:
        url = reverse(name)
        if allows(resolve(url).func, user):
            entries.append({"label": label, "url": url, "active": False})
    current = [entry for entry in entries if request.path.startswith(entry["url"])]
    if current:  # the most specific entry: /scheduling/board/ is the board, not the front desk
        max(current, key=lambda entry: len(entry["url"]))["active"] = True
    return {
        "nav_entries": entries,
        "show_admin_site": user.is_staff,
        "session_seconds": settings.SESSION_COOKIE_AGE,
        "session_warning_seconds": min(settings.RIS_SESSION_WARNING_SECONDS, settings.SESSION_COOKIE_AGE // 2),
    }
