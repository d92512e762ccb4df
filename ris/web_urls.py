from django.urls import path

from ris import views

app_name = "ris"
urlpatterns = [
    path("", views.admin_home, name="admin_home"),
    path("access-log/", views.access_log, name="access_log"),
]
