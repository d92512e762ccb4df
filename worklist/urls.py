from django.urls import path

from worklist import views

app_name = "worklist"
urlpatterns = [
    path("", views.home, name="home"),
    path("reconcile/", views.reconcile_list, name="reconcile_list"),
    path("reconcile/<int:pk>/", views.reconcile, name="reconcile"),
    path("forwards/", views.forward_log, name="forward_log"),
    path("forwards/<int:pk>/resend/", views.forward_resend, name="forward_resend"),
    path("availability/", views.availability_list, name="availability_list"),
    path("availability/<int:pk>/", views.availability_reconcile, name="availability_reconcile"),
]
