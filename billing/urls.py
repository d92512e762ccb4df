from django.urls import path

from billing import views

app_name = "billing"
urlpatterns = [
    path("", views.home, name="home"),
    path("charges/", views.charges, name="charges"),
    path("claims/", views.claims, name="claims"),
    path("claims/build/", views.claims_build, name="claims_build"),
    path("claims/validate/", views.claims_validate_selected, name="claims_validate_selected"),
    path("claims/<int:pk>/validate/", views.claim_validate, name="claim_validate"),
    path("claims/<int:pk>/outcome/", views.claim_outcome, name="claim_outcome"),
    path("batches/", views.batches, name="batches"),
    path("batches/<int:pk>/", views.batch, name="batch"),
    path("batches/<int:pk>/status/", views.batch_status, name="batch_status"),
    path("batches/<int:pk>/<str:kind>/", views.batch_download, name="batch_download"),
]
