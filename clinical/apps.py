from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "clinical"
    verbose_name = "Patient safety and clinical context"

    def ready(self) -> None:
        from clinical import safety

        safety.connect()
