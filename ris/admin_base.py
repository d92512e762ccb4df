"""Admin building blocks shared by the apps: records the admin may show but not write."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from ris.access import shown


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


class ReadOnlyAdmin(SimpleHistoryAdmin):
    """Search, filter and history of records whose changes must go through the services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
