"""Admin building blocks shared by the apps: records the admin may show but not write."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from ris.access import shown
from ris.display import model_value_label, readable_reason


class ReadOnlyInline(admin.TabularInline):
    """Rows listed under their parent, changed only through the pages and services."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class AccessLoggedAdmin(admin.ModelAdmin):
    """Opening a patient's, an order's or an exam's admin page is a view of it: it goes to the PHI access log."""

    def get_object(self, request, object_id, from_field=None):
        found = super().get_object(request, object_id, from_field)
        if found is not None:
            shown(request, found)
        return found


class LabelledChanges(HistoricalRecordContextHelper):
    """A history page's "Changes" column in words: choice labels for codes (In progress, not IN_PROGRESS), dates in
    the page format; the field's verbose name is simple-history's own."""

    def prepare_delta_change_value(self, change, value):
        prepared = super().prepare_delta_change_value(change, value)
        if isinstance(prepared, list):
            return prepared
        return model_value_label(self.model, change.field, prepared)


class HistoryAdmin(SimpleHistoryAdmin):
    """The admin's history pages of a model, without internal codes."""

    def get_historical_record_context_helper(self, request, historical_record):
        return LabelledChanges(self.model, historical_record)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        super().set_history_delta_changes(request, historical_records, foreign_keys_are_objs)
        for record in historical_records:  # shown only: the rows themselves are never changed
            record.history_change_reason = readable_reason(record.history_change_reason)


class ReadOnlyAdmin(HistoryAdmin):
    """Search, filter and history of records whose changes must go through the services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
