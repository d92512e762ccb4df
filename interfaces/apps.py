from django.apps import AppConfig


class InterfacesConfig(AppConfig):
    name = "interfaces"
    verbose_name = "HL7 interfaces"

    def ready(self) -> None:
        # Hear of committed outbox events (ris.outbox) and turn them into HL7 messages in a Celery task.
        from interfaces.tasks import drain_soon
        from ris import outbox

        outbox.subscribe(drain_soon)
