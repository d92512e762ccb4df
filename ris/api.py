"""The core's REST endpoints: patients (search, register, update), referring physicians and the catalog."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ris.countries import country_code
from ris.drf import AccessLogged, PatientAccessLogged, SlugLookupField
from ris.models import Coverage, Modality, Patient, Payer, ProcedureType, ReferringPhysician, Role, Room
from ris.selectors import patient_search
from ris.services import (
    COVERAGE_ENTERED,
    PATIENT_FIELDS,
    coverage_add,
    coverage_end,
    coverage_update,
    patient_register,
    patient_update,
    procedure_type_save,
)

ALL_ROLES = frozenset(Role)
PATIENT_WRITERS = frozenset({Role.FRONT_DESK, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


COVERAGE_DETAILS = [name for name in COVERAGE_ENTERED if name != "payer"]  # the payer is shown by its payer ID


class CoverageSerializer(serializers.ModelSerializer):
    payer_id = serializers.CharField(source="payer.payer_id", read_only=True)
    payer_name = serializers.CharField(source="payer.name", read_only=True)

    class Meta:
        model = Coverage
        fields = ["id", "payer_id", "payer_name", *COVERAGE_DETAILS, "active"]
        read_only_fields = fields


class CoverageWriteSerializer(serializers.ModelSerializer):
    """A coverage as the front desk enters or corrects it: the payer by its payer ID (837P NM109 of 2010BB)."""

    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
    payer = SlugLookupField(slug_field="payer_id", queryset=Payer.objects.filter(active=True))
    payer_name = serializers.CharField(source="payer.name", read_only=True)

    class Meta:
        model = Coverage
        fields = ["id", "patient", "payer", "payer_name", *COVERAGE_DETAILS, "active", "updated_at"]
        read_only_fields = ["id", "payer_name", "active", "updated_at"]
        extra_kwargs = {"member_id": {"required": True}}
        validators = []  # one active coverage per priority: the service replaces the previous one

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            self.fields["patient"].read_only = True  # a coverage stays with its patient

    def create(self, validated_data) -> Coverage:
        return coverage_add(acting_user=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data) -> Coverage:
        return coverage_update(coverage=instance, acting_user=self.context["request"].user, **validated_data)


class CoverageEndSerializer(serializers.Serializer):
    ended_on = serializers.DateField(required=False, allow_null=True, default=None, help_text="Today if not given")


class PatientSerializer(serializers.ModelSerializer):
    """A patient as read, and the fields a registration or an update may set (the MRN only when registering)."""

    coverages = CoverageSerializer(many=True, read_only=True)
    merged_into = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    country = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2 or alpha-3, or an English name"
    )

    class Meta:
        model = Patient
        fields = ["id", "mrn", "mrn_issuer", *sorted(PATIENT_FIELDS), "merged_into", "coverages", "updated_at"]
        read_only_fields = ["id", "mrn_issuer", "merged_into", "coverages", "updated_at"]
        extra_kwargs = {"mrn": {"required": False, "allow_blank": True}, "family_name": {"required": True}}
        validators = []  # the MRN's uniqueness per issuer is checked by the service (and held by the database)

    def validate_country(self, value: str) -> str:
        """Stored as ISO 3166-1 alpha-2: `FRA`, `fr` and `France` are all `FR`."""
        try:
            return country_code(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None

    def validate_mrn(self, value: str) -> str:
        if self.instance is not None and value and value != self.instance.mrn:
            raise serializers.ValidationError("An MRN is fixed once registered.")
        return value

    def create(self, validated_data) -> Patient:
        return patient_register(acting_user=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data) -> Patient:
        validated_data.pop("mrn", None)
        return patient_update(patient=instance, acting_user=self.context["request"].user, **validated_data)


class PatientFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search", label="Names, birth date, MRN or its start, or an accession number, as the front desk searches"
    )
    mrn = django_filters.CharFilter()
    birth_date = django_filters.DateFilter()

    class Meta:
        model = Patient
        fields = ["q", "mrn", "birth_date"]

    def search(self, queryset, name, value):
        return queryset.filter(pk__in=[patient.pk for patient in patient_search(value, limit=200)])


class PatientViewSet(
    AccessLogged,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Patients: search and read (every role), register and update (front desk, administrators)."""

    allowed_roles = ALL_ROLES
    write_roles = PATIENT_WRITERS
    serializer_class = PatientSerializer
    filterset_class = PatientFilter
    ordering_fields = ["id", "family_name", "birth_date", "updated_at"]
    queryset = Patient.objects.prefetch_related("coverages__payer")


class CoverageViewSet(
    PatientAccessLogged,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Patients' insurance: read (front desk, billing, administrators); add, correct and end (as for patients, the
    front desk and administrators) through the same services as the patient page."""

    allowed_roles = frozenset({Role.FRONT_DESK, Role.BILLING, Role.ADMIN})
    write_roles = PATIENT_WRITERS
    serializer_class = CoverageWriteSerializer
    filterset_fields = ["patient", "priority", "active"]
    ordering_fields = ["id", "priority", "updated_at"]
    queryset = Coverage.objects.select_related("payer", "patient")

    def get_serializer_class(self):
        return CoverageEndSerializer if self.action == "end" else CoverageWriteSerializer

    @extend_schema(request=CoverageEndSerializer, responses=CoverageWriteSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        """End the coverage on `ended_on` (today if not given): later services are not billed to it."""
        data = CoverageEndSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        coverage = coverage_end(
            coverage=self.get_object(), acting_user=request.user, ended_on=data.validated_data["ended_on"]
        )
        return Response(CoverageWriteSerializer(coverage).data)


class ReferringPhysicianSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReferringPhysician
        fields = ["id", "family_name", "given_name", "name_prefix", "name_suffix", "npi", "specialty", "active"]
        read_only_fields = fields


class ReferringPhysicianViewSet(viewsets.ReadOnlyModelViewSet):
    allowed_roles = ALL_ROLES
    serializer_class = ReferringPhysicianSerializer
    queryset = ReferringPhysician.objects.all()
    filterset_fields = ["npi", "active", "family_name"]
    ordering_fields = ["id", "family_name"]


class ModalitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Modality
        fields = ["id", "code", "name"]
        read_only_fields = fields


class ModalityViewSet(viewsets.ReadOnlyModelViewSet):
    allowed_roles = ALL_ROLES
    serializer_class = ModalitySerializer
    queryset = Modality.objects.all()
    filterset_fields = ["code"]


class RoomSerializer(serializers.ModelSerializer):
    modality = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Room
        fields = ["id", "name", "modality", "station_ae_title", "station_name", "location", "location_code", "active"]
        read_only_fields = fields


class RoomViewSet(viewsets.ReadOnlyModelViewSet):
    allowed_roles = ALL_ROLES
    serializer_class = RoomSerializer
    queryset = Room.objects.select_related("modality")
    filterset_fields = ["modality__code", "active"]


class ProcedureTypeSerializer(serializers.ModelSerializer):
    """A procedure of the catalog; administrators create and change them (a catalog load is a loop of POSTs)."""

    modality = SlugLookupField(slug_field="code", queryset=Modality.objects.all())

    class Meta:
        model = ProcedureType
        fields = [
            "id",
            "code",
            "name",
            "modality",
            "cpt_code",
            "body_part",
            "default_duration_minutes",
            "preparation",
            "active",
            "allowed_sex",
            "min_age_years",
            "max_age_years",
            "contrast",
            "needs_protocol",
        ]
        read_only_fields = ["id"]

    def create(self, validated_data) -> ProcedureType:
        return procedure_type_save(acting_user=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data) -> ProcedureType:
        return procedure_type_save(procedure=instance, acting_user=self.context["request"].user, **validated_data)


class ProcedureTypeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    allowed_roles = ALL_ROLES
    write_roles = ADMINS
    serializer_class = ProcedureTypeSerializer
    queryset = ProcedureType.objects.select_related("modality")
    filterset_fields = ["code", "modality__code", "cpt_code", "body_part", "active"]
    ordering_fields = ["id", "code", "name"]
