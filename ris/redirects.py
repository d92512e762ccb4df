"""Where a page's form sends the user back to."""

from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def back(request, default: str):
    """Redirect to the page the action was started from (`next`: a path on this site), else to `default` (a URL or
    a URL name). `next` is taken as a URL, never as a URL name: "0" or "home" from a form is not reversed."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    on_site = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    if target.startswith("/") and on_site:
        return HttpResponseRedirect(target)
    return redirect(default)
