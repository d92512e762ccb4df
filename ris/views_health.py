"""/healthz (liveness: cheap, anonymous) and /healthz/ready (readiness: the checks of ris.health, cached and
rate-limited), as JSON for load balancers and monitoring. Operators' notes: docs/health.md."""

import threading
import time
from collections import deque

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from ris import health
from ris.access import client_address

WINDOW = 60.0  # seconds of the per-address rate limit of /healthz/ready
_calls: dict[str, deque] = {}
_calls_lock = threading.Lock()


def _answer(body: dict, status: int) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


@login_not_required  # a probe has no session; the answer names nothing
@require_safe
def healthz(request):
    """Liveness: 200 {"status": "ok"} whenever this process answers; it touches no database and no peer."""
    return _answer({"status": "ok"}, 200)


def _too_often(address: str) -> int:
    """Seconds until `address` may ask again (0: now), counting this call; forgets addresses quiet for WINDOW."""
    now = time.monotonic()
    with _calls_lock:
        if len(_calls) > 10_000:  # many addresses: forget the quiet ones
            for quiet in [a for a, calls in _calls.items() if not calls or now - calls[-1] > WINDOW]:
                del _calls[quiet]
        calls = _calls.setdefault(address, deque())
        while calls and now - calls[0] > WINDOW:
            calls.popleft()
        if len(calls) >= settings.RIS_HEALTH_READY_PER_MINUTE:
            return max(1, round(WINDOW - (now - calls[0])))
        calls.append(now)
        return 0


@login_not_required  # a probe has no session; the answer names services, never patients or secrets
@require_safe
def healthz_ready(request):
    """Readiness: 200 {"status": "ok", "checks": {...}} when every check passes, else 503 with "status": "fail";
    429 to an address asking more than RIS_HEALTH_READY_PER_MINUTE times a minute."""
    wait = _too_often(client_address(request) or "")
    if wait:
        response = _answer({"status": "too many requests"}, 429)
        response["Retry-After"] = str(wait)
        return response
    report = health.readiness(settings.RIS_HEALTH_CACHE_SECONDS)
    return _answer(report.as_dict(), 200 if report.ok else 503)


def forget_callers() -> None:
    """Reset the rate limit (tests)."""
    with _calls_lock:
        _calls.clear()
