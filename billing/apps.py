from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # Charges are captured in the transaction that completes (or discontinues) the exam, and take the signing
        # radiologist as rendering provider in the one that signs the report final (ris.outbox.listen).
        from billing import services
        from ris import outbox

        outbox.listen("exam.status", services.charge_capture_on_event)
        outbox.listen("report.final", services.charge_render_on_event)
        # A coverage entered, corrected or ended at the front desk re-validates the patient's claims (ris.services).
        outbox.listen("coverage.changed", services.claims_revalidate_on_coverage)
