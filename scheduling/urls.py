from django.urls import path

from scheduling import views, views_coverage

app_name = "scheduling"
urlpatterns = [
    path("", views.home, name="home"),
    path("board/", views.schedule_board, name="board"),
    path("patients/new/", views.patient_register, name="patient_register"),
    path("patients/<int:pk>/", views.patient_detail, name="patient"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="patient_edit"),
    path("patients/<int:patient_pk>/coverages/new/", views_coverage.coverage_add, name="coverage_add"),
    path("coverages/<int:pk>/edit/", views_coverage.coverage_edit, name="coverage_edit"),
    path("coverages/<int:pk>/end/", views_coverage.coverage_end, name="coverage_end"),
    path("patients/<int:patient_pk>/orders/new/", views.order_create, name="order_create"),
    path("orders/<int:pk>/", views.order_detail, name="order"),
    path("exams/<int:pk>/", views.exam_detail, name="exam"),
    path("exams/<int:pk>/book/", views.exam_book, name="exam_book"),
    path("exams/<int:pk>/first-free/", views.exam_book_first_free, name="exam_book_first_free"),
    path("exams/<int:pk>/cancel/", views.exam_cancel, name="exam_cancel"),
    path("exams/<int:pk>/no-show/", views.exam_no_show, name="exam_no_show"),
    path("exams/<int:pk>/check-in/", views.exam_check_in, name="exam_check_in"),
    path("exams/<int:pk>/start/", views.exam_start, name="exam_start"),
    path("exams/<int:pk>/complete/", views.exam_complete, name="exam_complete"),
    path("exams/<int:pk>/letter/", views.exam_letter, name="exam_letter"),
]
