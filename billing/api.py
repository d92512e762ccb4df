"""Charges and claims over the REST API, for billing clerks and administrators: read, build, validate, outcome."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from billing import rules, selectors, services
from billing.models import Charge, Claim
from ris.access import shown
from ris.drf import PatientAccessLogged
from ris.models import Role

BILLING = frozenset({Role.BILLING, Role.ADMIN})


class ChargeSerializer(serializers.ModelSerializer):
    accession_number = serializers.CharField(source="exam.accession_number", read_only=True)
    rendering_npi = serializers.CharField(source="rendering_provider.npi", read_only=True, default="")

    class Meta:
        model = Charge
        fields = [
            "id",
            "exam",
            "accession_number",
            "patient",
            "status",
            "cpt_code",
            "modifiers",
            "units",
            "diagnosis_codes",
            "date_of_service",
            "place_of_service",
            "rendering_npi",
            "fee",
            "amount",
            "claim",
        ]
        read_only_fields = fields


class ChargeFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(field_name="date_of_service", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date_of_service", lookup_expr="lte")

    class Meta:
        model = Charge
        fields = ["status", "cpt_code", "patient", "claim", "date_from", "date_to"]


class ChargeViewSet(PatientAccessLogged, viewsets.ReadOnlyModelViewSet):
    allowed_roles = BILLING
    serializer_class = ChargeSerializer
    filterset_class = ChargeFilter
    ordering_fields = ["id", "date_of_service", "amount"]
    queryset = Charge.objects.select_related("patient", "exam__order", "rendering_provider")


class ClaimSerializer(serializers.ModelSerializer):
    payer_id = serializers.CharField(source="payer.payer_id", read_only=True, allow_null=True, default=None)
    charges = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Claim
        fields = [
            "id",
            "number",
            "patient",
            "payer_id",
            "date_of_service",
            "status",
            "total",
            "errors",
            "charges",
            "batch",
            "updated_at",
        ]
        read_only_fields = fields


class OutcomeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[Claim.Status.PAID, Claim.Status.DENIED])
    note = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")


class ClaimFilter(django_filters.FilterSet):
    """As the claims page filters: ?status=DRAFT&reason=coverage is the queue of claims held for no coverage."""

    reason = django_filters.ChoiceFilter(
        choices=[(key, label) for key, (label, _phrase) in rules.HOLD_REASONS.items()],
        method="held_for",
        label="Held for (a held claim's reason)",
    )
    date_from = django_filters.DateFilter(field_name="date_of_service", lookup_expr="gte")
    date_to = django_filters.DateFilter(field_name="date_of_service", lookup_expr="lte")

    class Meta:
        model = Claim
        fields = ["status", "patient", "payer", "date_of_service", "batch", "reason", "date_from", "date_to"]

    def held_for(self, queryset, name, value):
        return queryset.filter(pk__in=selectors.claims_list(reason=value).values("pk"))


class ClaimSelectionSerializer(serializers.Serializer):
    claims = serializers.PrimaryKeyRelatedField(queryset=Claim.objects.all(), many=True, allow_empty=False)


class ClaimViewSet(PatientAccessLogged, viewsets.ReadOnlyModelViewSet):
    """Claims: read; build from open charges, validate again, record the payer's outcome."""

    allowed_roles = BILLING
    serializer_class = ClaimSerializer
    filterset_class = ClaimFilter
    ordering_fields = ["id", "date_of_service", "total"]
    queryset = Claim.objects.select_related("payer", "patient").prefetch_related("charges")

    def get_serializer_class(self):
        return {"outcome": OutcomeSerializer, "validate_selected": ClaimSelectionSerializer}.get(
            self.action, ClaimSerializer
        )

    def _claim(self, claim: Claim) -> Response:
        return Response(ClaimSerializer(self.get_queryset().get(pk=claim.pk)).data)

    @extend_schema(request=None, responses={200: ClaimSerializer(many=True), 201: ClaimSerializer(many=True)})
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def build(self, request):
        built = services.claims_build(acting_user=request.user)
        claims = self.get_queryset().filter(pk__in=[claim.pk for claim in built])
        return Response(ClaimSerializer(claims, many=True).data, status=201 if built else 200)

    @extend_schema(request=None, responses=ClaimSerializer)
    @action(detail=True, methods=["post"])
    def validate(self, request, pk=None):
        return self._claim(services.claim_validate(claim=self.get_object(), acting_user=request.user))

    @extend_schema(request=ClaimSelectionSerializer, responses=ClaimSerializer(many=True))
    @action(detail=False, methods=["post"], url_path="validate-selected", pagination_class=None, filter_backends=[])
    def validate_selected(self, request):
        """Check many claims again at once; each gets its own history row."""
        data = ClaimSelectionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        checked = services.claims_validate(claims=data.validated_data["claims"], acting_user=request.user)
        for claim in checked:
            shown(request, claim.patient)
        claims = self.get_queryset().filter(pk__in=[claim.pk for claim in checked]).order_by("pk")
        return Response(ClaimSerializer(claims, many=True).data)

    @extend_schema(responses=ClaimSerializer)
    @action(detail=True, methods=["post"])
    def outcome(self, request, pk=None):
        data = OutcomeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        claim = services.claim_set_outcome(claim=self.get_object(), acting_user=request.user, **data.validated_data)
        return self._claim(claim)
