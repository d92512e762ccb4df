from django.urls import path

from interfaces import views

app_name = "interfaces"
urlpatterns = [
    path("messages/", views.message_log, name="message_log"),
    path("messages/in/<int:pk>/", views.inbound_message, name="inbound_message"),
    path("messages/in/<int:pk>/reprocess/", views.inbound_message_reprocess, name="inbound_message_reprocess"),
    path("messages/out/<int:pk>/", views.outbound_message, name="outbound_message"),
]
