"""Response headers that limit what a page may load and keep patient data out of caches.

Content-Security-Policy: scripts and styles only from our own origin, no inline script (every page script is a
file under static/js; data reaches it through data- attributes or `json_script`), no framing, forms post only
to us. Inline style *attributes* are allowed (`style-src-attr`): the schedule board positions its blocks with
computed `top`/`height` percentages; `<style>` elements are not. Permissions-Policy switches off the browser
features the RIS never uses. `Cache-Control: no-store` on every response that passes through Django (static
files are served by WhiteNoise before this middleware and keep their long cache): pages, API and FHIR answers
carry PHI and must not stay in a shared or back-button cache.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# drf-spectacular's Swagger UI page starts itself with an inline script and styles itself with a <style>
# element; it shows the API's description, never patient data.
SWAGGER_UI_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SWAGGER_UI_PATH = "/api/docs/"

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)


class SecurityHeadersMiddleware:
    """Set Content-Security-Policy, Permissions-Policy and `Cache-Control: no-store` on every Django response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = SWAGGER_UI_POLICY if request.path == SWAGGER_UI_PATH else CONTENT_SECURITY_POLICY
        response.setdefault("Content-Security-Policy", policy)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if "no-store" not in response.get("Cache-Control", ""):  # keeps never_cache's and "private, no-store"
            response["Cache-Control"] = "no-store"
        return response
