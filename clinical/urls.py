from django.urls import path

from clinical import views, views_mr

app_name = "clinical"

urlpatterns = [
    path("exams/<int:exam_pk>/flags/decide/", views.flag_decide, name="flag_decide"),
    path("exams/<int:exam_pk>/documentation/", views.exam_documentation, name="exam_documentation"),
    path("patients/<int:pk>/", views.patient_clinical, name="patient"),
    path("patients/<int:patient_pk>/allergies/add/", views.allergy_add, name="allergy_add"),
    path("patients/<int:patient_pk>/allergies/answer/", views.allergies_answer, name="allergies_answer"),
    path("patients/<int:patient_pk>/alerts/add/", views.alert_add, name="alert_add"),
    path("patients/<int:patient_pk>/measurements/add/", views.measurement_add, name="measurement_add"),
    path("patients/<int:patient_pk>/pregnancy/add/", views.pregnancy_add, name="pregnancy_add"),
    path("allergies/<int:pk>/edit/", views.allergy_edit, name="allergy_edit"),
    path("allergies/<int:pk>/end/", views.allergy_end, name="allergy_end"),
    path("alerts/<int:pk>/end/", views.alert_end, name="alert_end"),
    path("protocols/", views.protocol_worklist, name="protocols"),
    path("exams/<int:exam_pk>/protocol/", views.protocol_exam, name="protocol_exam"),
    path("mr/", views_mr.mr_home, name="mr_home"),
    path("exams/<int:exam_pk>/mr-screening/", views_mr.mr_screening, name="mr_screening"),
    path("exams/<int:exam_pk>/mr-screening/implants/add/", views_mr.implant_add, name="implant_add"),
    path("exams/<int:exam_pk>/mr-screening/implants/<int:pk>/change/", views_mr.implant_update, name="implant_update"),
    path("exams/<int:exam_pk>/mr-screening/implants/<int:pk>/remove/", views_mr.implant_remove, name="implant_remove"),
    path("exams/<int:exam_pk>/check-in/", views.check_in, name="check_in"),
]
