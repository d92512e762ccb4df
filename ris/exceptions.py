"""One exception hierarchy for business rules, mapped to a form error, HTTP 400, an HL7 AE or a DICOM status."""


class ApplicationError(Exception):
    """A request the RIS refuses; `message` is written for the person (or system) who asked."""

    def __init__(self, message: str, *, field: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra or {}


class NotFound(ApplicationError):
    """The thing asked for does not exist (or the actor may not know it does)."""


class IllegalTransition(ApplicationError):
    """A state change that the workflow does not allow from the current state."""
