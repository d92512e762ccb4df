"""MPPS forwarding (IHE MPPS Manager): every N-CREATE and N-SET the RIS accepts goes on to the configured DICOM
destinations (the PACS), stored in the transaction that accepted it and sent in order per destination."""


def forward_queue(*, sop_instance_uid: str, operation: str, attributes: dict) -> None:
    """Store what to forward of one accepted MPPS request (operation "N-CREATE" or "N-SET"; attributes as DICOM
    JSON), in the caller's transaction."""
