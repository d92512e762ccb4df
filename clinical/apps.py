from django.apps import AppConfig


class ClinicalConfig(AppConfig):
    name = "clinical"
    verbose_name = "Patient safety and clinical context"

    def ready(self) -> None:
        from clinical import safety
        from clinical.cis import patient_merge_clinical
        from ris.merging import merge_step_register

        safety.connect()
        merge_step_register("clinical", patient_merge_clinical)
