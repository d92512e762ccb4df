from django.urls import path

from clinical import views, views_mr

app_name = "clinical"

urlpatterns = [
    path("exams/<int:exam_pk>/flags/decide/", views.flag_decide, name="flag_decide"),
    path("mr/", views_mr.mr_home, name="mr_home"),
    path("exams/<int:exam_pk>/mr-screening/", views_mr.mr_screening, name="mr_screening"),
    path("exams/<int:exam_pk>/mr-screening/implants/add/", views_mr.implant_add, name="implant_add"),
    path("exams/<int:exam_pk>/mr-screening/implants/<int:pk>/change/", views_mr.implant_update, name="implant_update"),
    path("exams/<int:exam_pk>/mr-screening/implants/<int:pk>/remove/", views_mr.implant_remove, name="implant_remove"),
]
