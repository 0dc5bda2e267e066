"""HQ CRM's API for segments: a live count of rules, saved segments, their members and evaluations.
Views translate HTTP to ``marketing.services`` and ``marketing.selectors`` and nothing more."""

from __future__ import annotations

from decimal import Decimal

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Product
from marketing import campaigns, engagement, selectors, services
from marketing.models import Campaign, Review, Segment, SegmentRun, StoreEvent
from members.api.views import IsMember
from members.models import CouponCampaign, Member
from omo.org.api.permissions import IsStaff, IsStaffOrChannel, model_permission


class MemberRowSerializer(serializers.ModelSerializer):
    home_store = serializers.CharField(source="registered_store.code", default=None, allow_null=True)

    class Meta:
        model = Member
        fields = ["member_no", "name", "home_store", "points_balance", "created_at"]


class PreviewApi(APIView):
    """What a set of rules selects now: the count and the first 20 members (nothing is saved)."""

    permission_classes = [IsStaff, model_permission("marketing.view_segment")]

    class InputSerializer(serializers.Serializer):
        rules = serializers.DictField(help_text="See the README: member rules and marketing rules.")

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        sample = MemberRowSerializer(many=True)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(self.OutputSerializer(selectors.rules_preview(data.validated_data["rules"])).data)


class SegmentSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    updated_by = serializers.CharField(source="updated_by.username", default=None, allow_null=True)

    class Meta:
        model = Segment
        fields = [
            "id", "name", "description", "rules", "schedule", "is_active", "members_count", "evaluated_at",
            "created_by", "created_at", "updated_by", "updated_at",
        ]  # fmt: skip


class SegmentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    rules = serializers.DictField()
    schedule = serializers.ChoiceField(choices=Segment.Schedule.choices, required=False)
    is_active = serializers.BooleanField(required=False)


class SegmentListApi(APIView):
    """Saved segments; a new one (evaluated at once)."""

    permission_classes = [IsStaff, model_permission("marketing.view_segment")]

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsStaff(), model_permission("marketing.add_segment")()]
        return super().get_permissions()

    @extend_schema(responses=SegmentSerializer(many=True))
    def get(self, request):
        return Response(SegmentSerializer(selectors.segment_list(), many=True).data)

    @extend_schema(request=SegmentInputSerializer, responses={201: SegmentSerializer})
    def post(self, request):
        data = SegmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.pop("is_active", None)
        segment = services.segment_create(actor=request.user, **fields)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailApi(APIView):
    permission_classes = [IsStaff, model_permission("marketing.view_segment")]

    def get_permissions(self):
        if self.request.method == "PATCH":
            return [IsStaff(), model_permission("marketing.change_segment")()]
        return super().get_permissions()

    @extend_schema(responses=SegmentSerializer)
    def get(self, request, pk: int):
        return Response(SegmentSerializer(get_object_or_404(Segment, pk=pk)).data)

    @extend_schema(request=SegmentInputSerializer(partial=True), responses=SegmentSerializer)
    def patch(self, request, pk: int):
        segment = get_object_or_404(Segment, pk=pk)
        data = SegmentInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        segment = services.segment_update(actor=request.user, segment=segment, **data.validated_data)
        return Response(SegmentSerializer(segment).data)


class SegmentRunSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username", default=None, allow_null=True)

    class Meta:
        model = SegmentRun
        fields = ["at", "members", "entered", "left", "rules", "by", "error"]


class SegmentEvaluateApi(APIView):
    """Evaluates the segment now (members enter and leave) and returns the run."""

    permission_classes = [IsStaff, model_permission("marketing.change_segment")]

    @extend_schema(request=None, responses=SegmentRunSerializer)
    def post(self, request, pk: int):
        run = services.segment_evaluate(segment=get_object_or_404(Segment, pk=pk), actor=request.user)
        return Response(SegmentRunSerializer(run).data)


class SegmentMembersApi(generics.ListAPIView):
    """The segment's members as its last evaluation found them (paginated)."""

    permission_classes = [IsStaff, model_permission("marketing.view_segment")]
    serializer_class = MemberRowSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no pk
            return Member.objects.none()
        return selectors.segment_members(get_object_or_404(Segment, pk=self.kwargs["pk"]))


class SegmentRunsApi(generics.ListAPIView):
    """The segment's evaluations, the latest first: its size over time (paginated)."""

    permission_classes = [IsStaff, model_permission("marketing.view_segment")]
    serializer_class = SegmentRunSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SegmentRun.objects.none()
        return selectors.segment_runs(get_object_or_404(Segment, pk=self.kwargs["pk"]))


class CampaignSerializer(serializers.ModelSerializer):
    segment = serializers.PrimaryKeyRelatedField(read_only=True)
    summary = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "segment", "channel", "subject", "message", "coupon_campaign", "bonus_points",
            "control_percent", "attribution_days", "per_minute", "quiet_start", "quiet_end", "status", "audience",
            "launched_at", "finished_at", "created_at", "summary",
        ]  # fmt: skip

    def get_summary(self, campaign) -> dict:
        summaries = self.context.get("summaries")  # a list reads them all at once
        return summaries.get(campaign.pk, {}) if summaries is not None else selectors.campaign_summary(campaign)


class CampaignInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    segment = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all())
    channel = serializers.ChoiceField(choices=Campaign.Channel.choices)
    subject = serializers.CharField(max_length=150, required=False, allow_blank=True)
    message = serializers.CharField()
    coupon_campaign = serializers.PrimaryKeyRelatedField(queryset=CouponCampaign.objects.all(), required=False)
    bonus_points = serializers.IntegerField(min_value=0, required=False)
    control_percent = serializers.IntegerField(min_value=0, max_value=50, required=False)
    attribution_days = serializers.IntegerField(min_value=1, max_value=90, required=False)
    per_minute = serializers.IntegerField(min_value=1, required=False)
    quiet_start = serializers.TimeField(required=False)
    quiet_end = serializers.TimeField(required=False)


class CampaignListApi(APIView):
    """Campaigns, the latest first; a new draft."""

    permission_classes = [IsStaff, model_permission("marketing.view_campaign")]

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsStaff(), model_permission("marketing.add_campaign")()]
        return super().get_permissions()

    @extend_schema(responses=CampaignSerializer(many=True))
    def get(self, request):
        rows = list(selectors.campaign_list())
        summaries = selectors.campaign_summaries([c.pk for c in rows])
        return Response(CampaignSerializer(rows, many=True, context={"summaries": summaries}).data)

    @extend_schema(request=CampaignInputSerializer, responses={201: CampaignSerializer})
    def post(self, request):
        data = CampaignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaigns.campaign_create(actor=request.user, **data.validated_data)
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    permission_classes = [IsStaff, model_permission("marketing.view_campaign")]

    @extend_schema(responses=CampaignSerializer)
    def get(self, request, pk: int):
        return Response(CampaignSerializer(get_object_or_404(Campaign, pk=pk)).data)


class CampaignLaunchApi(APIView):
    """Fixes the audience (the segment now, less the control group) and starts sending."""

    permission_classes = [IsStaff, model_permission("marketing.change_campaign")]

    @extend_schema(request=None, responses=CampaignSerializer)
    def post(self, request, pk: int):
        campaign = campaigns.campaign_launch(actor=request.user, campaign=get_object_or_404(Campaign, pk=pk))
        campaign.refresh_from_db()
        return Response(CampaignSerializer(campaign).data)


class CampaignCancelApi(APIView):
    """Stops sending: what was not sent yet never will be."""

    permission_classes = [IsStaff, model_permission("marketing.change_campaign")]

    @extend_schema(request=None, responses=CampaignSerializer)
    def post(self, request, pk: int):
        campaign = campaigns.campaign_cancel(actor=request.user, campaign=get_object_or_404(Campaign, pk=pk))
        return Response(CampaignSerializer(campaign).data)


class CampaignResultsApi(APIView):
    """What the campaign changed against its control group (see ``marketing.selectors.campaign_results``)."""

    permission_classes = [IsStaff, model_permission("marketing.view_campaign")]

    @extend_schema(responses=dict)
    def get(self, request, pk: int):
        results = selectors.campaign_results(get_object_or_404(Campaign, pk=pk))
        return Response(_plain(results))


def _plain(value):
    """Money and ratios as exact strings (as everywhere in the API)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


class ProductRecommendationsApi(APIView):
    """Products often bought with this one in any channel (computed every night)."""

    permission_classes = [IsStaffOrChannel]

    @extend_schema(responses=dict)
    def get(self, request, style_code: str):
        product = get_object_or_404(Product, style_code=style_code)
        return Response(
            _plain({"product": product.style_code, "bought_together": selectors.product_recommendations(product)})
        )


class MemberRecommendationsApi(APIView):
    """Staff: a member's category affinity and products to suggest (the POS member panel shows them)."""

    permission_classes = [IsStaff, model_permission("members.view_member")]

    @extend_schema(responses=dict)
    def get(self, request, member_no: str):
        member = get_object_or_404(Member, member_no=member_no, status=Member.Status.ACTIVE)
        return Response(_plain(selectors.member_recommendations(member)))


class MyRecommendationsApi(APIView):
    """A frontend, for the logged-in member (X-Member-Token): their affinity and products to suggest."""

    permission_classes = [IsMember]

    @extend_schema(responses=dict)
    def get(self, request):
        return Response(_plain(selectors.member_recommendations(request.member)))


class ReviewSerializer(serializers.ModelSerializer):
    product = serializers.CharField(source="product.style_code")
    channel = serializers.CharField(source="channel.code")
    author = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = ["id", "product", "rating", "title", "body", "verified", "status", "channel", "author", "created_at"]

    def get_author(self, review) -> str:
        from members.selectors import mask_name

        return mask_name(review.member.name)


class ReviewListApi(APIView):
    """GET ``?product=STYLE``: its approved reviews, count and average (staff, frontends). POST: the
    logged-in member writes one (channel key + X-Member-Token), waiting for moderation."""

    def get_permissions(self):
        return [IsMember()] if self.request.method == "POST" else [IsStaffOrChannel()]

    class InputSerializer(serializers.Serializer):
        product = serializers.CharField(help_text="style code")
        rating = serializers.IntegerField()
        title = serializers.CharField(required=False, allow_blank=True)
        body = serializers.CharField(required=False, allow_blank=True)

    @extend_schema(responses=dict)
    def get(self, request):
        product = get_object_or_404(Product, style_code=request.query_params.get("product", ""))
        got = selectors.product_reviews(product)
        return Response(
            _plain(
                {
                    "count": got["count"],
                    "average": got["average"],
                    "reviews": ReviewSerializer(got["reviews"], many=True).data,
                }
            )
        )

    @extend_schema(request=InputSerializer, responses={201: ReviewSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        review = engagement.review_submit(
            member=request.member, product=get_object_or_404(Product, style_code=v["product"]), rating=v["rating"],
            title=v.get("title", ""), body=v.get("body", ""), channel=request.auth.channel,
        )  # fmt: skip
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class ReviewPendingApi(generics.ListAPIView):
    """Reviews waiting for moderation, oldest first."""

    permission_classes = [IsStaff, model_permission("marketing.change_review")]
    serializer_class = ReviewSerializer

    def get_queryset(self):
        return (
            Review.objects.filter(status=Review.Status.PENDING)
            .select_related("product", "channel", "member")
            .order_by("created_at", "id")
        )


class ReviewModerateApi(APIView):
    permission_classes = [IsStaff, model_permission("marketing.change_review")]

    class InputSerializer(serializers.Serializer):
        approve = serializers.BooleanField()
        note = serializers.CharField(required=False, allow_blank=True, max_length=200)

    @extend_schema(request=InputSerializer, responses=ReviewSerializer)
    def post(self, request, pk: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = engagement.review_moderate(
            actor=request.user, review=get_object_or_404(Review, pk=pk), approve=data.validated_data["approve"],
            note=data.validated_data.get("note", ""),
        )  # fmt: skip
        return Response(ReviewSerializer(review).data)


class EventSerializer(serializers.ModelSerializer):
    """An event from ``selectors.events_with_taken`` (``taken`` annotated: no query per row)."""

    store = serializers.CharField(source="store.code", default=None, allow_null=True)
    taken = serializers.IntegerField(read_only=True)

    class Meta:
        model = StoreEvent
        fields = ["id", "name", "store", "starts_at", "ends_at", "capacity", "taken"]


class EventListApi(APIView):
    """Coming events (staff, frontends); HQ or a store manager creates one."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsStaff(), model_permission("marketing.add_storeevent")()]
        return [IsStaffOrChannel()]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        store = serializers.CharField(required=False, allow_blank=True)
        starts_at = serializers.DateTimeField()
        ends_at = serializers.DateTimeField()
        capacity = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(responses=EventSerializer(many=True))
    def get(self, request):
        return Response(EventSerializer(selectors.events_coming(), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: EventSerializer})
    def post(self, request):
        from omo.org.access import get_scoped
        from omo.org.models import Location

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        code = v.pop("store", "")
        store = get_scoped(Location.objects.all(), request.user, store_field="pk", code=code) if code else None
        event = engagement.event_create(actor=request.user, store=store, **v)
        return Response(
            EventSerializer(selectors.events_with_taken().get(pk=event.pk)).data, status=status.HTTP_201_CREATED
        )


class EventRegisterApi(APIView):
    """The logged-in member signs up (channel key + X-Member-Token)."""

    permission_classes = [IsMember]

    @extend_schema(request=None, responses=dict)
    def post(self, request, pk: int):
        attendance = engagement.event_register(member=request.member, event=get_object_or_404(StoreEvent, pk=pk))
        return Response({"event": pk, "status": attendance.status})


class EventCheckInApi(APIView):
    """A clerk checks a member in at the event (a walk-in too): their own store's events, around the
    event's time (``engagement.event_check_in``)."""

    permission_classes = [IsStaff, model_permission("marketing.change_eventattendance")]

    class InputSerializer(serializers.Serializer):
        member = serializers.CharField(help_text="member number")

    @extend_schema(request=InputSerializer, responses=dict)
    def post(self, request, pk: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = get_object_or_404(Member, member_no=data.validated_data["member"], status=Member.Status.ACTIVE)
        attendance = engagement.event_check_in(
            actor=request.user, event=get_object_or_404(StoreEvent, pk=pk), member=member
        )
        return Response({"event": pk, "member": member.member_no, "status": attendance.status})
