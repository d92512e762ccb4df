import hashlib
import hmac

from django.conf import settings
from django.db import models
from django.utils import timezone

from ris.models.base import TimeStamped

TOKEN_MARK = "ris"  # noqa: S105  (a label, not a secret)
# a token reads ris_<prefix>_<secret>: recognisable in a leaked file, found by its prefix


def token_digest(secret: str) -> str:
    """SHA-256 of a token's secret: the secret is random (256 bits), so a plain hash cannot be reversed."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(TimeStamped):
    """A machine client's credential for the REST API and FHIR: acts as `user`, within `scope`.

    Only the prefix and the hash of the secret are stored; the whole token is shown once, when it is issued.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    name = models.CharField(max_length=100, help_text="The client: e.g. 'PACS sync', 'billing export script'")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_MARK}_{self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def may_write(self) -> bool:
        return self.scope == self.Scope.WRITE

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, token_digest(secret))
