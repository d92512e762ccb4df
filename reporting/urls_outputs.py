"""What leaves the reading room: the PDF of a final report, the critical results list."""

from django.urls import path

from reporting import views_outputs

app_name = "reports"
urlpatterns = [
    path("exam/<int:exam_pk>/pdf/", views_outputs.report_pdf_download, name="pdf"),
    path("exam/<int:exam_pk>/critical/", views_outputs.critical_flag, name="critical_flag"),
    path("critical/", views_outputs.critical_list, name="critical"),
    path("critical/<int:pk>/notify/", views_outputs.critical_notify, name="critical_notify"),
    path("critical/<int:pk>/close/", views_outputs.critical_close, name="critical_close"),
]
