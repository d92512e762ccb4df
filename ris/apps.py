from django.apps import AppConfig


class RisConfig(AppConfig):
    name = "ris"
    verbose_name = "RIS core"

    def ready(self) -> None:
        from ris import audit  # noqa: F401  (connects the history-actor signal)
