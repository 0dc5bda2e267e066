"""HQ's member operations over HTTP: data export and erasure (PDPA), the duplicate list and merges, and
bulk coupon issue to a segment; plus the member's own data export."""

from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from members import coupons, merging, privacy
from members.api.views import IsMember, _member
from members.models import CouponCampaign, CouponIssueJob, DuplicateCandidate, Member
from omo.core.errors import NotFoundError
from omo.org.api.permissions import IsStaff, model_permission


def _download(data: dict, member_no: str) -> JsonResponse:
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = f'attachment; filename="member-{member_no}.json"'
    return response


class MyExportApi(APIView):
    """Everything the brand holds about the logged-in member, as a JSON download."""

    permission_classes = [IsMember]

    @extend_schema(responses={(200, "application/json"): OpenApiTypes.OBJECT})
    def get(self, request):
        return _download(privacy.member_export(member=request.member), request.member.member_no)


class MemberExportApi(APIView):
    """HQ answers a person's access request: everything held about the member, as a JSON download."""

    permission_classes = [IsStaff, model_permission("members.add_membererasure")]

    @extend_schema(responses={(200, "application/json"): OpenApiTypes.OBJECT})
    def get(self, request, member_no: str):
        member = Member.objects.filter(member_no=member_no).first()
        if member is None:
            raise NotFoundError("No member found.", code="member_not_found")
        return _download(privacy.member_export(member=member), member_no)


class MemberEraseApi(APIView):
    """Erases a member's personal data (PDPA) and keeps the figures; remaining points are forfeited."""

    permission_classes = [IsStaff, model_permission("members.add_membererasure")]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=200)

    class OutputSerializer(serializers.Serializer):
        member_no = serializers.CharField(source="member.member_no")
        points_forfeited = serializers.IntegerField()
        erased_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, member_no: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        erasure = privacy.member_erase(member=_member(member_no), actor=request.user, **data.validated_data)
        return Response(self.OutputSerializer(erasure).data)


class MemberMergeApi(APIView):
    """Folds another member (``merged``) into this one. Different values of one detail are a 409
    ``merge_conflict`` listing them, until ``choices`` says which to keep (``survivor`` or ``merged``)."""

    permission_classes = [IsStaff, model_permission("members.add_membermerge")]

    class InputSerializer(serializers.Serializer):
        merged = serializers.CharField(max_length=12, help_text="The member number folded into this one.")
        choices = serializers.DictField(child=serializers.ChoiceField(merging.KEEP_CHOICES), required=False)

    class OutputSerializer(serializers.Serializer):
        survivor = serializers.CharField(source="survivor.member_no")
        merged = serializers.CharField(source="merged.member_no")
        points_moved = serializers.IntegerField()
        moved = serializers.DictField(child=serializers.IntegerField())
        merged_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, member_no: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = merging.member_merge(
            survivor=_member(member_no),
            merged=_member(data.validated_data["merged"]),
            actor=request.user,
            choices=data.validated_data.get("choices"),
        )
        return Response(self.OutputSerializer(record).data)


class DuplicateListApi(generics.ListAPIView):
    """Pairs of members who look like one person, still to review."""

    permission_classes = [IsStaff, model_permission("members.view_duplicatecandidate")]

    class OutputSerializer(serializers.ModelSerializer):
        first = serializers.CharField(source="first.member_no")
        second = serializers.CharField(source="second.member_no")

        class Meta:
            model = DuplicateCandidate
            fields = ["id", "first", "second", "reason", "evidence", "status", "found_at"]

    serializer_class = OutputSerializer

    def get_queryset(self):
        return DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.OPEN).select_related(
            "first", "second"
        )


class CouponIssueJobApi(APIView):
    """Queues the issue of a unique-code campaign to every member of a segment (see members.segments);
    answers 202 with the job, which a Celery worker runs in batches."""

    permission_classes = [IsStaff, model_permission("members.add_couponissuejob")]

    class InputSerializer(serializers.Serializer):
        campaign = serializers.IntegerField()
        segment = serializers.DictField(help_text="Rules: tiers, stores, omo, consent, joined_from ...")

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = CouponIssueJob
            fields = ["id", "campaign", "segment", "status", "matched", "issued", "skipped", "created_at"]

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = CouponCampaign.objects.filter(pk=data.validated_data["campaign"]).first()
        if campaign is None:
            raise NotFoundError("No such campaign.", code="campaign_not_found")
        job = coupons.coupon_issue_job_create(
            campaign=campaign, segment=data.validated_data["segment"], actor=request.user
        )
        return Response(self.OutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class CouponIssueJobDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsStaff, model_permission("members.view_couponissuejob")]
    serializer_class = CouponIssueJobApi.OutputSerializer
    queryset = CouponIssueJob.objects.all()
