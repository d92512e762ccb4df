from django.urls import path

from clinical import views

app_name = "clinical"

urlpatterns = [
    path("exams/<int:exam_pk>/flags/decide/", views.flag_decide, name="flag_decide"),
    path("exams/<int:exam_pk>/check-in/", views.check_in, name="check_in"),
]
