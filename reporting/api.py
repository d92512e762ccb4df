"""Reports over the REST API: read them (as the role may), and for radiologists write drafts, sign and amend.

Every write is one call of reporting.services, as from the editor: a FINAL report is refused there (HTTP 400 with
the service's message) and, below that, by the database. A change of a draft names the `revision` it was based on
(as read from GET); a stale one is refused with HTTP 409 carrying the stored revision and sections.
"""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from reporting import selectors, services
from reporting.models import SECTIONS, Addendum, Report, ReportTemplate
from reporting.pdf import report_filename, report_pdf
from reporting.status import final_report_of
from ris.drf import AccessLogged
from ris.models import Role
from scheduling.models import Exam
from scheduling.workflow import PERFORMED


class AddendumSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    signed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Addendum
        fields = ["id", "text", "author", "signed_by", "signed_at", "created_at"]
        read_only_fields = fields


class ReportSerializer(serializers.ModelSerializer):
    accession_number = serializers.CharField(source="exam.accession_number", read_only=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    preliminary_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    signed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    addenda = AddendumSerializer(many=True, read_only=True)

    class Meta:
        model = Report
        fields = [
            "id",
            "exam",
            "accession_number",
            "status",
            "revision",
            "template",
            *SECTIONS,
            "author",
            "preliminary_by",
            "preliminary_at",
            "signed_by",
            "signed_at",
            "addenda",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DraftSerializer(serializers.Serializer):
    """A draft's sections (any subset) and, optionally, the template it follows."""

    template = serializers.PrimaryKeyRelatedField(
        queryset=ReportTemplate.objects.filter(active=True), required=False, allow_null=True
    )
    clinical_information = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    technique = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    comparison = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    findings = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    impression = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    revision = serializers.IntegerField(
        min_value=0, help_text="The report's revision this text is based on (as read); a stale one gets HTTP 409."
    )

    def sections(self) -> dict[str, str]:
        return {name: self.validated_data[name] for name in SECTIONS if name in self.validated_data}


class NewDraftSerializer(DraftSerializer):
    exam = serializers.PrimaryKeyRelatedField(queryset=Exam.objects.filter(status__in=PERFORMED))
    revision = serializers.IntegerField(
        min_value=0, default=0, help_text="0 (the default): the exam has no report yet, else HTTP 409."
    )


def _signed_revision_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=0, required=False, help_text="The revision the signer read; if given and stale, HTTP 409."
    )


class RevisionSerializer(serializers.Serializer):
    revision = _signed_revision_field()


class PasswordSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True, style={"input_type": "password"}, trim_whitespace=False)


class SignSerializer(PasswordSerializer):
    revision = _signed_revision_field()


class ConflictSerializer(serializers.Serializer):
    """A stale write: the stored revision and text, to show beside the caller's."""

    detail = serializers.CharField()
    revision = serializers.IntegerField()
    sections = serializers.DictField(child=serializers.CharField(allow_blank=True))


def conflict_response(conflict: services.ReportConflict) -> Response:
    body = {"detail": conflict.message, "revision": conflict.revision, "sections": conflict.sections}
    return Response(body, status=status.HTTP_409_CONFLICT)


class AddendumTextSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False)


class PDFRenderer(renderers.BaseRenderer):
    """Lets a client ask for application/pdf; the PDF itself is a plain HttpResponse, a refusal is JSON (below)."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ReportViewSet(AccessLogged, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Reports: list and read; radiologists create and update drafts, save preliminary, sign final, add addenda.

    A draft is written with POST (exam and sections) or PATCH/PUT (sections); the author holds the exam's reading
    claim from then on, as in the editor. Signing final and signing an addendum take the signer's password.
    """

    allowed_roles = selectors.ALL_REPORTS | selectors.FINAL_REPORTS
    write_roles = frozenset({Role.RADIOLOGIST})
    serializer_class = ReportSerializer
    filterset_fields = ["status", "exam"]

    def get_queryset(self):
        return selectors.reports_visible_to(self.request.user)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(getattr(response, "accepted_renderer", None), PDFRenderer):  # an error asked for as a PDF
            response.accepted_renderer, response.accepted_media_type = renderers.JSONRenderer(), "application/json"
        return response

    def get_serializer_class(self):
        return {
            "create": NewDraftSerializer,
            "update": DraftSerializer,
            "partial_update": DraftSerializer,
            "preliminary": RevisionSerializer,
            "sign": SignSerializer,
            "addenda": AddendumTextSerializer,
            "sign_addendum": PasswordSerializer,
        }.get(self.action, ReportSerializer)

    def _input(self, **kwargs):
        serializer = self.get_serializer(data=self.request.data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer

    def _report(self, report: Report, code: int = status.HTTP_200_OK) -> Response:
        report = self.get_queryset().get(pk=report.pk)
        return Response(ReportSerializer(report, context=self.get_serializer_context()).data, status=code)

    def _save(self, exam, data, code: int) -> Response:
        """Save the draft through the service, based on the revision the caller saw; 409 if another save came first."""
        try:
            report = services.report_save_draft(
                exam=exam,
                user=self.request.user,
                sections=data.sections(),
                template=data.validated_data.get("template"),
                based_on=data.validated_data["revision"],
            )
        except services.ReportConflict as conflict:
            return conflict_response(conflict)
        return self._report(report, code)

    @extend_schema(responses={201: ReportSerializer, 409: ConflictSerializer})
    def create(self, request):
        data = self._input()
        return self._save(data.validated_data["exam"], data, status.HTTP_201_CREATED)

    @extend_schema(responses={200: ReportSerializer, 409: ConflictSerializer})
    def update(self, request, pk=None, partial=False):
        report = self.get_object()
        data = self._input(partial=partial)
        if "revision" not in data.validated_data:  # PATCH leaves out what it does not change, but not this
            raise serializers.ValidationError({"revision": ["This field is required."]})
        return self._save(report.exam, data, status.HTTP_200_OK)

    @extend_schema(responses={200: ReportSerializer, 409: ConflictSerializer})
    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    @extend_schema(request=RevisionSerializer, responses={200: ReportSerializer, 409: ConflictSerializer})
    @action(detail=True, methods=["post"])
    def preliminary(self, request, pk=None):
        revision = self._input().validated_data.get("revision")
        try:
            report = services.report_sign_preliminary(report=self.get_object(), user=request.user, revision=revision)
        except services.ReportConflict as conflict:
            return conflict_response(conflict)
        return self._report(report)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], renderer_classes=[PDFRenderer, renderers.JSONRenderer])
    def pdf(self, request, pk=None):
        """The final report as PDF, as the exam page offers it (scripts and FHIR clients sign in as for the API)."""
        report = final_report_of(self.get_object().exam)  # as the exam page's PDF: FINAL only, with what it prints
        if report is None:
            raise NotFound("The report is not final: it has no PDF yet.")
        response = HttpResponse(report_pdf(report), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{report_filename(report.exam.accession_number)}"'
        response["Cache-Control"] = "private, no-store"  # a patient's report: not for shared caches
        return response

    @extend_schema(responses={200: ReportSerializer, 409: ConflictSerializer})
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        data = self._input().validated_data
        try:
            report = services.report_sign_final(
                report=self.get_object(), user=request.user, password=data["password"], revision=data.get("revision")
            )
        except services.ReportConflict as conflict:
            return conflict_response(conflict)
        return self._report(report)

    @extend_schema(responses=ReportSerializer)
    @action(detail=True, methods=["post"])
    def addenda(self, request, pk=None):
        text = self._input().validated_data["text"]
        services.addendum_save(report=self.get_object(), user=request.user, text=text)
        return self._report(self.get_object(), status.HTTP_201_CREATED)

    @extend_schema(responses=ReportSerializer)
    @action(detail=True, methods=["post"], url_path=r"addenda/(?P<addendum_pk>\d+)/sign")
    def sign_addendum(self, request, pk=None, addendum_pk=None):
        report = self.get_object()
        addendum = get_object_or_404(Addendum, pk=addendum_pk, report=report)
        password = self._input().validated_data["password"]
        services.addendum_sign(addendum=addendum, user=request.user, password=password)
        return self._report(report)
