"""Django admin for the core domain. Patient changes go through the services, so they keep their actor."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from ris import services
from ris.exceptions import ApplicationError
from ris.models import (
    Coverage,
    Facility,
    IdentifierSequence,
    Modality,
    OpeningHours,
    Patient,
    Payer,
    ProcedureType,
    ReferringPhysician,
    Room,
    User,
)


@admin.register(User)
class RisUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Clinical", {"fields": ("title", "npi")}))
    list_display = ("username", "first_name", "last_name", "title", "is_active", "is_staff")
    list_filter = ("is_active", "is_staff", "groups")


class CoverageInline(admin.TabularInline):
    model = Coverage
    extra = 0
    fields = ("priority", "payer", "member_id", "group_number", "relationship", "active")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Patient)
class PatientAdmin(SimpleHistoryAdmin):
    list_display = ("mrn", "mrn_issuer", "family_name", "given_name", "birth_date", "sex", "merged_into")
    list_filter = ("sex", "mrn_issuer")
    search_fields = ("mrn", "family_name", "given_name")
    readonly_fields = ("merged_into", "created_at", "updated_at")
    inlines = [CoverageInline]
    date_hierarchy = "birth_date"

    def get_readonly_fields(self, request, obj=None):
        # The MRN identifies the record in every system it went to; it is fixed once registered.
        return self.readonly_fields + (("mrn", "mrn_issuer") if obj else ())

    def save_model(self, request, obj, form, change) -> None:
        fields = {name: form.cleaned_data[name] for name in services.PATIENT_FIELDS if name in form.cleaned_data}
        try:
            if change:
                saved = services.patient_update(patient=obj, acting_user=request.user, **fields)
            else:
                fields.pop("family_name")
                saved = services.patient_register(
                    family_name=form.cleaned_data["family_name"],
                    mrn=form.cleaned_data.get("mrn", ""),
                    mrn_issuer=form.cleaned_data.get("mrn_issuer", ""),
                    acting_user=request.user,
                    **fields,
                )
        except ApplicationError as error:  # the form validated; a race (e.g. MRN taken meanwhile) can still refuse
            self.message_user(request, error.message, level="error")
            raise
        obj.pk = saved.pk


@admin.register(Coverage)
class CoverageAdmin(SimpleHistoryAdmin):
    list_display = ("patient", "priority", "payer", "member_id", "group_number", "active")
    list_filter = ("priority", "active", "payer")
    search_fields = ("member_id", "patient__mrn", "patient__family_name")
    autocomplete_fields = ("patient", "payer")

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        saved = services.coverage_add(
            acting_user=request.user,
            **{
                name: form.cleaned_data[name]
                for name in (
                    "patient",
                    "payer",
                    "member_id",
                    "priority",
                    "group_number",
                    "relationship",
                    "effective_from",
                    "effective_to",
                )
            },
        )
        obj.pk = saved.pk


@admin.register(Payer)
class PayerAdmin(admin.ModelAdmin):
    list_display = ("name", "payer_id", "city", "active")
    list_filter = ("active", "state")
    search_fields = ("name", "payer_id")


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "npi")
    search_fields = ("code", "name")
    list_filter = ("state", "country")


@admin.register(ReferringPhysician)
class ReferringPhysicianAdmin(admin.ModelAdmin):
    list_display = ("family_name", "given_name", "npi", "specialty", "facility", "active")
    list_filter = ("active", "specialty", "facility")
    search_fields = ("family_name", "given_name", "npi")


@admin.register(Modality)
class ModalityAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")
    list_filter = ("code",)


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "modality", "station_ae_title", "station_name", "location", "facility", "active")
    list_filter = ("modality", "facility", "active")
    search_fields = ("name", "station_ae_title", "station_name", "location")
    inlines = [OpeningHoursInline]


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ("room", "weekday", "opens_at", "closes_at")
    list_filter = ("weekday", "room__modality")
    search_fields = ("room__name", "room__station_ae_title")


@admin.register(ProcedureType)
class ProcedureTypeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "modality", "cpt_code", "body_part", "default_duration_minutes", "active")
    list_filter = ("modality", "active", "body_part")
    search_fields = ("code", "name", "cpt_code")


@admin.register(IdentifierSequence)
class IdentifierSequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "last_value", "updated_at")
    search_fields = ("name",)
    list_filter = ("updated_at",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a sequence set back would hand out identifiers twice

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
