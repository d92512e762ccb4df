from django.db import models

from ris.models.base import TimeStamped


class OutboxEvent(TimeStamped):
    """A domain change the outside world must hear of, written in the transaction that made it.

    Domain apps write these (ris.services.outbox_add) and import no protocol; interfaces/ turns them into HL7
    messages. Nothing is lost when the broker or a peer is down: an unprocessed row is picked up later.
    """

    kind = models.CharField(max_length=40, db_index=True, help_text='e.g. "exam.booked", "report.final"')
    payload = models.JSONField(default=dict, help_text="Database IDs and the facts of the change, no names")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["id"], condition=models.Q(processed_at__isnull=True), name="outbox_pending")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
