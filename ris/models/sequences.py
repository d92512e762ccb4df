from django.db import models


class IdentifierSequence(models.Model):
    """A named counter for identifiers (accession numbers, MRNs); advanced under a row lock, never reused."""

    name = models.CharField(max_length=32, primary_key=True)
    last_value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}={self.last_value}"
