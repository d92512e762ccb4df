from django.urls import path

from ris import views, views_imports

app_name = "ris"
urlpatterns = [
    path("", views.admin_home, name="admin_home"),
    path("access-log/", views.access_log, name="access_log"),
    path("catalog/import/", views_imports.catalog_import, name="catalog_import"),
    path("catalog/import/<int:pk>/", views_imports.catalog_import_job, name="catalog_import_job"),
    path("catalog/import/<int:pk>/status/", views_imports.catalog_import_status, name="catalog_import_status"),
]
