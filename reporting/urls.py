from django.urls import path

from reporting import views

app_name = "reporting"
urlpatterns = [
    path("", views.home, name="home"),
    path("exams/<int:exam_pk>/", views.editor, name="editor"),
    path("exams/<int:exam_pk>/autosave/", views.autosave, name="autosave"),
    path("exams/<int:exam_pk>/claim/", views.keep_claim, name="keep_claim"),
    path("exams/<int:exam_pk>/preliminary/", views.preliminary, name="preliminary"),
    path("exams/<int:exam_pk>/sign/", views.sign, name="sign"),
    path("exams/<int:exam_pk>/addendum/", views.addendum_save, name="addendum_save"),
    path("exams/<int:exam_pk>/addendum/sign/", views.addendum_sign, name="addendum_sign"),
    path("exams/<int:exam_pk>/versions/", views.versions, name="versions"),
    path("exams/<int:exam_pk>/versions/restore/", views.restore_version, name="restore_version"),
]
