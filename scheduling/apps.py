from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Orders and scheduling"

    def ready(self) -> None:
        from ris.search import register_patient_lookup
        from scheduling.selectors import patients_by_accession

        register_patient_lookup("accession number", patients_by_accession)
