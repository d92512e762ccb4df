"""Django admin for the core domain. Patient changes go through the services, so they keep their actor."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from ris import security, services
from ris.admin_base import AccessLoggedAdmin, HistoryAdmin, ReadOnlyInline
from ris.models import (
    AccessRecord,
    ApiToken,
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
from ris.selectors import sequence_last


@admin.register(User)
class RisUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Clinical", {"fields": ("title", "npi")}))
    list_display = ("username", "first_name", "last_name", "title", "is_active", "is_staff")
    list_filter = ("is_active", "is_staff", "groups")


class CoverageInline(ReadOnlyInline):
    model = Coverage
    fields = ("priority", "payer", "member_id", "group_number", "relationship", "active")


@admin.register(Patient)
class PatientAdmin(AccessLoggedAdmin, HistoryAdmin):
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
        # The form has validated the fields and the MRN's uniqueness; the service records who made the change.
        fields = {name: form.cleaned_data[name] for name in services.PATIENT_FIELDS if name in form.cleaned_data}
        if change:
            saved = services.patient_update(patient=obj, acting_user=request.user, **fields)
        else:
            mrn = {name: form.cleaned_data.get(name, "") for name in ("mrn", "mrn_issuer")}
            saved = services.patient_register(acting_user=request.user, **mrn, **fields)
        obj.pk = saved.pk


@admin.register(Coverage)
class CoverageAdmin(HistoryAdmin):
    list_display = ("patient", "priority", "payer", "member_id", "group_number", "active")
    list_filter = ("priority", "active", "payer")
    search_fields = ("member_id", "patient__mrn", "patient__family_name")
    autocomplete_fields = ("patient", "payer")

    def save_model(self, request, obj, form, change) -> None:
        fields = {name: form.cleaned_data[name] for name in services.COVERAGE_FIELDS if name in form.cleaned_data}
        if change:
            saved = services.coverage_update(coverage=obj, acting_user=request.user, **fields)
        else:
            fields.pop("active", None)
            saved = services.coverage_add(patient=form.cleaned_data["patient"], acting_user=request.user, **fields)
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
    list_display = (
        "name",
        "modality",
        "station_ae_title",
        "station_name",
        "location",
        "location_code",
        "facility",
        "active",
    )
    list_filter = ("modality", "facility", "active")
    search_fields = ("name", "station_ae_title", "station_name", "location", "location_code")
    inlines = [OpeningHoursInline]


@admin.register(OpeningHours)
class OpeningHoursAdmin(admin.ModelAdmin):
    list_display = ("room", "weekday", "opens_at", "closes_at")
    list_filter = ("weekday", "room__modality")
    search_fields = ("room__name", "room__station_ae_title")


@admin.register(ProcedureType)
class ProcedureTypeAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "modality",
        "cpt_code",
        "body_part",
        "default_duration_minutes",
        "allowed_sex",
        "min_age_years",
        "max_age_years",
        "contrast",
        "needs_protocol",
        "active",
    )
    list_filter = ("modality", "active", "contrast", "needs_protocol", "allowed_sex", "body_part")
    search_fields = ("code", "name", "cpt_code")


@admin.register(IdentifierSequence)
class IdentifierSequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "last_handed_out")
    search_fields = ("name",)
    list_filter = ("updated_at",)

    @admin.display(description="last value handed out")
    def last_handed_out(self, obj: IdentifierSequence) -> int:
        return sequence_last(obj.name)  # on PostgreSQL its database sequence's, not the row's

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a sequence set back would hand out identifiers twice

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AccessRecord)
class AccessRecordAdmin(admin.ModelAdmin):
    """The PHI access log, searchable and never writable (the model refuses changes as well)."""

    list_display = ("at", "username", "address", "channel", "kind", "object_id", "patient_id", "path")
    list_filter = ("channel", "kind")
    search_fields = ("=username", "=patient_id")
    date_hierarchy = "at"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Machine clients' API tokens: listed and revoked here; issued with `manage.py api_token issue`, which shows the
    token once (it is never stored, nor put in a page or a message)."""

    list_display = ("name", "prefix", "user", "scope", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = ("scope",)
    search_fields = ("name", "prefix", "user__username")
    fields = ("name", "prefix", "user", "scope", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)  # the list's action, never an edit

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked tokens stay listed: who had access, and until when

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            security.api_token_revoke(token=token)
        self.message_user(request, f"{queryset.count()} token(s) revoked.")


try:  # DRF's plain tokens are not accepted (ris.drf.ApiTokenAuthentication): do not offer to create them
    from rest_framework.authtoken.models import TokenProxy

    admin.site.unregister(TokenProxy)
except (ImportError, admin.exceptions.NotRegistered):
    pass
