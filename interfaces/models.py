"""HL7 v2 traffic: every message in and out, stored before it is acknowledged or sent, and the peers it goes to."""

from django.db import models
from django.db.models import Q

from ris.models.base import TimeStamped


class ApplicationAck(models.TextChoices):
    NOT_WANTED = "", "Not asked for"
    QUEUED = "QUEUED", "Queued to the sender"
    UNROUTED = "UNROUTED", "Unanswered: no destination for the sender"


class Sender(TimeStamped):
    """A system that sends HL7 to the RIS, by MSH-3 (and MSH-4 when set), with what the RIS takes from it."""

    name = models.CharField(max_length=227, unique=True, help_text="MSH-3 sending application")
    facility = models.CharField(max_length=227, blank=True, help_text="MSH-4; empty matches any facility")
    addresses = models.JSONField(default=list, blank=True, help_text="Peer IP addresses it may connect from")
    assigns_accession_numbers = models.BooleanField(
        default=False,
        help_text="Take OBR-18 / IPC-1 as the accession number (the sender assigns them); else the RIS does",
    )
    accession_issuer = models.CharField(
        max_length=64, blank=True, help_text="Namespace of the sender's accession numbers; empty: the sender's name"
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def accession_namespace(self) -> str:
        return self.accession_issuer or self.name


class InboundMessage(TimeStamped):
    """One message received over MLLP, stored before any ACK leaves (HL7 v2.5.1 2.9 original and enhanced mode).

    created_at is the time it was received.
    """

    class Status(models.TextChoices):
        RECEIVED = "RECEIVED", "Received, not yet applied"
        APPLIED = "APPLIED", "Applied (AA)"
        ERROR = "ERROR", "Not applied: application error (AE)"
        REJECTED = "REJECTED", "Rejected (AR)"

    raw = models.TextField(help_text="The message as received, segments separated by carriage returns")
    message_type = models.CharField(max_length=3, blank=True, db_index=True, help_text="MSH-9.1, e.g. ORM")
    trigger_event = models.CharField(max_length=3, blank=True, help_text="MSH-9.2, e.g. O01")
    control_id = models.CharField(max_length=199, blank=True, help_text="MSH-10")
    sending_application = models.CharField(max_length=227, blank=True, help_text="MSH-3")
    sending_facility = models.CharField(max_length=227, blank=True, help_text="MSH-4")
    version = models.CharField(max_length=16, blank=True, help_text="MSH-12")
    accept_ack_type = models.CharField(max_length=2, blank=True, help_text="MSH-15 (enhanced mode when set)")
    application_ack_type = models.CharField(max_length=2, blank=True, help_text="MSH-16")
    peer = models.CharField(max_length=100, blank=True, help_text="Address the message came from")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    ack_code = models.CharField(max_length=2, blank=True, help_text="MSA-1 of the application acknowledgement")
    ack = models.TextField(blank=True, help_text="The acknowledgement sent back (original mode) or queued")
    outcome = models.TextField(blank=True, help_text="What happened, for people: the error and where it was")
    # What the message was about, for the message log's search (no names: identifiers only).
    mrn = models.CharField("MRN", max_length=64, blank=True, db_index=True)
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    # Enhanced mode: where the application acknowledgement went. UNROUTED is an error the sender never heard of.
    application_ack_state = models.CharField(
        max_length=10, choices=ApplicationAck.choices, blank=True, default=ApplicationAck.NOT_WANTED
    )
    reprocess_count = models.PositiveIntegerField(default=0, help_text="Times applied again after an AE")
    reprocessed_at = models.DateTimeField(null=True, blank=True)
    reprocessed_by = models.CharField(max_length=150, blank=True, help_text="Who applied it again (user or resend)")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One message per sender and control ID: a resend is answered with the first outcome, never re-applied.
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility", "control_id"],
                condition=~Q(control_id=""),
                name="inbound_control_id_unique_per_sender",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.message_type}^{self.trigger_event} {self.control_id}"


class Destination(TimeStamped):
    """A peer the RIS sends HL7 to over MLLP (the PACS, the CIS), and which message types it takes."""

    name = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    message_types = models.JSONField(
        default=list, blank=True, help_text='Message types it receives, e.g. ["ORM", "ORU"]'
    )
    receiving_application = models.CharField(max_length=227, blank=True, help_text="MSH-5 of what is sent")
    receiving_facility = models.CharField(max_length=227, blank=True, help_text="MSH-6 of what is sent")
    enabled = models.BooleanField(default=True)
    use_tls = models.BooleanField(default=False)
    order_message = models.CharField(
        max_length=8,
        choices=[("ORM_O01", "ORM^O01 v2.3.1 with ZDS (IHE RAD-4/13)"), ("OMI_O23", "OMI^O23 v2.5.1 with TQ1 and IPC")],
        default="ORM_O01",
        help_text="How orders are sent to this destination",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"

    def takes(self, message_type: str) -> bool:
        return self.enabled and message_type in self.message_types


class OutboundMessage(TimeStamped):
    """One message to one destination: queued in the transaction that caused it, delivered in order per order."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Waiting to be sent"
        SENT = "SENT", "Acknowledged (AA/CA)"
        FAILED = "FAILED", "Failed: retries exhausted"

    destination = models.ForeignKey(Destination, on_delete=models.PROTECT, related_name="messages")
    message_type = models.CharField(max_length=3, db_index=True)
    trigger_event = models.CharField(max_length=3)
    control_id = models.CharField(max_length=20, unique=True)
    raw = models.TextField()
    # Messages with one key (an order's accession number) are delivered one after the other, in id order.
    sequence_key = models.CharField(max_length=64, blank=True, db_index=True)
    accession_number = models.CharField(max_length=16, blank=True, db_index=True)
    mrn = models.CharField("MRN", max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    ack = models.TextField(blank=True, help_text="The peer's acknowledgement")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["destination", "status", "id"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.message_type}^{self.trigger_event} {self.control_id} -> {self.destination.name}"


class CacheStamp(TimeStamped):
    """A stamp that changes with what a process caches (interfaces.catalog): a new random value on every change,
    written in the changing transaction by database triggers (migration 0004), so that a cache built on a stamp
    holds exactly what the database held then (a rolled-back change leaves the earlier stamp, and its rows)."""

    name = models.CharField(max_length=32, primary_key=True)
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
