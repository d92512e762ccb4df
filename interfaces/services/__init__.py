"""Inbound HL7: receiving (store, acknowledge, reprocess) and applying (patients and orders)."""

from interfaces.services.receiving import (
    application_ack_queue,
    application_ack_wanted,
    message_apply,
    message_receive,
    message_reprocess,
    messages_pending,
)

__all__ = [
    "application_ack_queue",
    "application_ack_wanted",
    "message_apply",
    "message_receive",
    "message_reprocess",
    "messages_pending",
]
