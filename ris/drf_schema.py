"""How the OpenAPI schema (drf-spectacular) describes the RIS's own API sign-ins; imported by the URLconf."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PasswordScheme(OpenApiAuthenticationExtension):
    target_class = "ris.drf.PasswordAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "A user's name and password; refused for accounts with a second factor.",
        }


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "ris.drf.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A machine client's token (ris_<prefix>_<secret>) from `manage.py api_token issue`.",
        }
