"""Orders and exams over the REST API: the front desk's order entry and booking, as on the pages.

Booking, rescheduling, cancelling and checking in are actions on an exam, each one call of scheduling.services: a
slot taken meanwhile, a start in the past, a check-in on another day than the booked one, a transition the workflow
forbids or a missing reason comes back as HTTP 400 with its message.
"""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ris.drf import AccessLogged
from ris.models import Patient, ProcedureType, ReferringPhysician, Role, Room
from ris.validators import validate_icd10cm_list
from scheduling import services
from scheduling.models import Exam, Order, Priority

DESK = frozenset({Role.FRONT_DESK, Role.ADMIN})
EXAM_READERS = frozenset({Role.FRONT_DESK, Role.TECHNOLOGIST, Role.RADIOLOGIST, Role.ADMIN, Role.BILLING})


class ExamSerializer(serializers.ModelSerializer):
    accession_number = serializers.CharField(read_only=True)
    patient = serializers.PrimaryKeyRelatedField(source="order.patient", read_only=True)
    procedure_code = serializers.CharField(source="procedure_type.code", read_only=True)
    modality = serializers.CharField(source="procedure_type.modality.code", read_only=True)
    room = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    image_availability = serializers.CharField(
        read_only=True, help_text="ONLINE, NEARLINE, OFFLINE or UNAVAILABLE; empty: the PACS announced nothing yet"
    )

    class Meta:
        model = Exam
        fields = [
            "id",
            "order",
            "accession_number",
            "patient",
            "procedure_type",
            "procedure_code",
            "modality",
            "status",
            "room",
            "scheduled_start",
            "scheduled_end",
            "requested_procedure_id",
            "scheduled_procedure_step_id",
            "study_instance_uid",
            "arrived_at",
            "started_at",
            "completed_at",
            "status_reason",
            "images_available_at",
            "image_availability",
            "image_series_count",
            "image_instance_count",
            "image_retrieve_ae_title",
            "updated_at",
        ]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    """An order as read; creating one takes the patient, procedures and the clinical facts, as order entry does."""

    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.filter(merged_into__isnull=True))
    procedure_types = serializers.PrimaryKeyRelatedField(
        queryset=ProcedureType.objects.filter(active=True), many=True, write_only=True, allow_empty=False
    )
    referring_physician = serializers.PrimaryKeyRelatedField(
        queryset=ReferringPhysician.objects.filter(active=True), required=False, allow_null=True
    )
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.ROUTINE)
    diagnosis_codes = serializers.ListField(
        child=serializers.CharField(max_length=8), required=False, validators=[validate_icd10cm_list]
    )
    override_reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Why a procedure outside its catalog sex or age limits for this patient is ordered anyway",
    )
    exams = ExamSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "accession_number",
            "filler_order_number",
            "placer_order_number",
            "patient",
            "referring_physician",
            "priority",
            "reason",
            "diagnosis_codes",
            "admission_id",
            "status",
            "procedure_types",
            "override_reason",
            "plausibility_override",
            "exams",
            "created_at",
        ]
        read_only_fields = ["id", "filler_order_number", "status", "plausibility_override", "exams", "created_at"]
        extra_kwargs = {"accession_number": {"required": False, "allow_blank": True}}

    def create(self, validated_data) -> Order:
        return services.order_create(acting_user=self.context["request"].user, **validated_data)


class OrderFilter(django_filters.FilterSet):
    class Meta:
        model = Order
        fields = ["patient", "status", "priority", "accession_number", "referring_physician"]


class OrderViewSet(
    AccessLogged, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Orders: read (clinical roles and billing), create (front desk, administrators)."""

    allowed_roles = EXAM_READERS
    write_roles = DESK
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["id", "created_at"]
    queryset = Order.objects.prefetch_related(
        Prefetch("exams", queryset=Exam.objects.select_related("procedure_type__modality", "order"))
    )


class ExamFilter(django_filters.FilterSet):
    scheduled_from = django_filters.IsoDateTimeFilter(field_name="scheduled_start", lookup_expr="gte")
    scheduled_to = django_filters.IsoDateTimeFilter(field_name="scheduled_start", lookup_expr="lt")
    modality = django_filters.CharFilter(field_name="procedure_type__modality__code")
    accession_number = django_filters.CharFilter(field_name="accession_number")
    patient = django_filters.NumberFilter(field_name="order__patient")

    class Meta:
        model = Exam
        fields = ["status", "room", "order", "patient", "modality", "accession_number"]


class BookSerializer(serializers.Serializer):
    room = serializers.PrimaryKeyRelatedField(queryset=Room.objects.filter(active=True))
    start = serializers.DateTimeField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()


class CheckInSerializer(serializers.Serializer):
    early_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text='Needed to check in before the booked day ("arrived early"); kept in the exam\'s history.',
    )


class ExamViewSet(AccessLogged, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Exams: read; book (or reschedule), cancel and check in as actions (front desk, administrators)."""

    allowed_roles = EXAM_READERS
    write_roles = DESK
    serializer_class = ExamSerializer
    filterset_class = ExamFilter
    ordering_fields = ["id", "scheduled_start", "completed_at"]
    queryset = Exam.objects.select_related("order", "procedure_type__modality")

    def get_serializer_class(self):
        return {
            "book": BookSerializer,
            "reschedule": BookSerializer,
            "cancel": ReasonSerializer,
            "check_in": CheckInSerializer,
        }.get(self.action, ExamSerializer)

    def _done(self, exam: Exam) -> Response:
        exam = self.get_queryset().get(pk=exam.pk)
        return Response(ExamSerializer(exam, context=self.get_serializer_context()).data, status=status.HTTP_200_OK)

    def _input(self) -> dict:
        serializer = self.get_serializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(responses=ExamSerializer)
    @action(detail=True, methods=["post"])
    def book(self, request, pk=None):
        data = self._input()
        return self._done(services.exam_book(exam=self.get_object(), acting_user=request.user, **data))

    @extend_schema(responses=ExamSerializer)
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        return self.book(request, pk)

    @extend_schema(responses=ExamSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        reason = self._input()["reason"]
        return self._done(services.exam_cancel(exam=self.get_object(), reason=reason, acting_user=request.user))

    @extend_schema(responses=ExamSerializer)
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request, pk=None):
        """Check in on the booked day; on an earlier day only with `early_reason`; never on a later day."""
        early_reason = self._input()["early_reason"]
        exam = services.exam_check_in(exam=self.get_object(), acting_user=request.user, early_reason=early_reason)
        return self._done(exam)
