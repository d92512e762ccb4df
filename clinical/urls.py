from django.urls import path

from clinical import views

app_name = "clinical"

urlpatterns = [
    path("exams/<int:exam_pk>/flags/decide/", views.flag_decide, name="flag_decide"),
    path("protocols/", views.protocol_worklist, name="protocols"),
    path("exams/<int:exam_pk>/protocol/", views.protocol_exam, name="protocol_exam"),
]
