"""Clerk attribution over HTTP: referral codes for the frontends, bindings, the explanation of an
order's attribution, policies and the monthly settlement for HQ. Views only translate HTTP to the
services and selectors."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from attribution import selectors, services, settlement
from attribution.models import Binding, Policy, SettlementPeriod
from members.api.views import IsMember
from members.models import Member
from omo.core.errors import NotFoundError
from omo.org.access import get_scoped, scope_to_user
from omo.org.api.permissions import IsStaff, IsStaffOrChannel, model_permission
from omo.org.models import Location, StaffProfile
from orders.models import Order


class ReferralCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    clerk = serializers.CharField()
    store = serializers.DictField(child=serializers.CharField())


class ReferralCodeApi(APIView):
    """``?ref=CODE`` on a frontend: the clerk's display name and store (404 for an unknown code or a
    clerk who has left)."""

    permission_classes = [IsStaffOrChannel]

    @extend_schema(responses=ReferralCodeSerializer)
    def get(self, request, code: str):
        return Response(services.referral_resolve(code))


class ReferralQrApi(APIView):
    """The clerk's referral link as a QR code to print (``?type=png`` for PNG; SVG by default)."""

    permission_classes = [IsStaffOrChannel]

    @extend_schema(responses={(200, "image/svg+xml"): bytes, (200, "image/png"): bytes})
    def get(self, request, code: str):
        services.referral_resolve(code)  # 404 for an unknown code or a leaver's
        profile = StaffProfile.objects.get(referral_code=code.strip().upper())
        kind = "png" if request.query_params.get("type") == "png" else "svg"
        body = selectors.referral_qr(profile, kind=kind)
        response = HttpResponse(body, content_type="image/png" if kind == "png" else "image/svg+xml")
        response["Content-Disposition"] = f'inline; filename="referral-{profile.referral_code}.{kind}"'
        return response


class BindingSerializer(serializers.ModelSerializer):
    member = serializers.CharField(source="member.member_no")
    clerk = serializers.SerializerMethodField()
    store = serializers.CharField(source="store.code")
    state = serializers.SerializerMethodField()

    class Meta:
        model = Binding
        fields = ["id", "member", "clerk", "store", "source", "started_at", "ended_at", "counts", "state",
                  "blocked_by", "reference", "note", "created_at"]  # fmt: skip

    def get_clerk(self, b) -> str | None:
        profile = getattr(b.clerk, "staff_profile", None) if b.clerk_id else None
        return profile.employee_code if profile else None

    def get_state(self, b) -> str:
        return selectors.binding_state(b)


class ReferralClickApi(APIView):
    """A logged-in member followed a clerk's referral link: the frontend reports it (a referral
    binding for the policy's window)."""

    permission_classes = [IsMember]

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=12)

    @extend_schema(request=InputSerializer, responses={201: BindingSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        binding = services.referral_click(member=request.member, code=data.validated_data["code"])
        return Response(BindingSerializer(binding).data, status=status.HTTP_201_CREATED)


def _member(member_no: str) -> Member:
    member = Member.objects.filter(member_no=member_no).first()
    if member is None:
        raise NotFoundError("No such member.", code="member_not_found")
    return member


def _clerk(employee_code: str):
    """The staff login of an employee code (empty: nobody, the store itself)."""
    if not employee_code:
        return None
    profile = StaffProfile.objects.select_related("user").filter(employee_code=employee_code).first()
    if profile is None:
        raise NotFoundError("No such clerk.", code="clerk_not_found")
    return profile.user


def _store(user, code: str) -> Location:
    try:
        return get_scoped(Location.objects.all(), user, store_field="pk", code=code)
    except NotFoundError:
        raise NotFoundError("No such store.", code="store_not_found") from None


class BindingListApi(APIView):
    """A member's binding history (staff of a store see their store's), and HQ's manual assignment."""

    permission_classes = [IsStaff, model_permission("attribution.view_binding")]

    class InputSerializer(serializers.Serializer):
        member = serializers.CharField()
        clerk = serializers.CharField(required=False, allow_blank=True, help_text="employee code; empty: the store")
        store = serializers.CharField()
        reason = serializers.CharField(max_length=300)

    @extend_schema(responses=BindingSerializer(many=True))
    def get(self, request):
        member = _member(request.query_params.get("member", ""))
        return Response(BindingSerializer(selectors.binding_history(member=member, user=request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: BindingSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        clerk = _clerk(v.get("clerk", ""))
        binding = services.binding_assign(
            actor=request.user, member=_member(v["member"]), clerk=clerk, store=_store(request.user, v["store"]),
            reason=v["reason"],
        )  # fmt: skip
        return Response(BindingSerializer(binding).data, status=status.HTTP_201_CREATED)


class BindingChatApi(APIView):
    """A clerk logs a LINE / chat conversation with a member (a binding for the LINE window)."""

    permission_classes = [IsStaff, model_permission("attribution.add_binding")]

    class InputSerializer(serializers.Serializer):
        member = serializers.CharField()
        store = serializers.CharField()
        note = serializers.CharField(max_length=300)

    @extend_schema(request=InputSerializer, responses={201: BindingSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        binding = services.binding_chat_record(
            actor=request.user, member=_member(v["member"]), store=_store(request.user, v["store"]), note=v["note"]
        )
        return Response(BindingSerializer(binding).data, status=status.HTTP_201_CREATED)


class BindingEndApi(APIView):
    permission_classes = [IsStaff, model_permission("attribution.change_binding")]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=200)

    @extend_schema(request=InputSerializer, responses=BindingSerializer)
    def post(self, request, pk: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        binding = get_scoped(Binding.objects.all(), request.user, pk=pk)
        binding = services.binding_end(actor=request.user, binding=binding, reason=data.validated_data["reason"])
        return Response(BindingSerializer(binding).data)


class ExplainedPartSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField(allow_null=True)
    net = serializers.CharField(allow_null=True)
    base = serializers.CharField()
    rate = serializers.CharField()
    commission = serializers.CharField()


class ExplainedLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    order = serializers.CharField()
    skus = serializers.CharField()
    clerk = serializers.CharField(allow_null=True)
    store = serializers.CharField()
    binding = serializers.IntegerField(allow_null=True)
    binding_source = serializers.CharField(allow_null=True)
    policy_version = serializers.IntegerField()
    rule = serializers.CharField()
    share = serializers.CharField()
    base = serializers.CharField()
    rate = serializers.CharField(allow_null=True)
    factor = serializers.CharField()
    commission = serializers.CharField()
    store_amount = serializers.CharField()
    personal_amount = serializers.CharField()
    eligible_on = serializers.CharField()
    period = serializers.CharField(allow_null=True)
    lines = ExplainedPartSerializer(many=True)
    explanation = serializers.CharField()


class OrderAttributionSerializer(serializers.Serializer):
    order = serializers.CharField()
    rule = serializers.CharField(allow_null=True)
    policy_version = serializers.IntegerField(allow_null=True)
    explanation = serializers.CharField()
    lines = ExplainedLineSerializer(many=True)


class OrderAttributionApi(APIView):
    """Who an order was credited to, and for which of its lines, in words and data."""

    permission_classes = [IsStaff, model_permission("attribution.view_attributionline")]

    @extend_schema(responses=OrderAttributionSerializer)
    def get(self, request, number: str):
        lines = selectors.line_list(user=request.user).filter(order__number=number).order_by("pk")
        attribution = services.OrderAttribution.objects.filter(order__number=number).select_related("policy").first()
        # store staff see an order credited to their store, or one of their store's own orders (also when
        # nobody was credited); another store's order is not found, like its lines
        visible = bool(lines) or scope_to_user(Order.objects.filter(number=number), request.user).exists()
        if (attribution is None and not lines) or not visible:
            raise NotFoundError("This order has not been attributed.", code="not_attributed")
        return Response(
            {
                "order": number,
                "rule": attribution.rule if attribution else None,
                "policy_version": attribution.policy.version if attribution else None,
                "explanation": attribution.explanation if attribution else "",
                "lines": selectors.explain_all(lines),
            }
        )


class PolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = Policy
        fields = ["id", "version", "name", "effective_from", *services.POLICY_FIELDS[1:], "created_at"]


class PolicyInputSerializer(serializers.Serializer):
    based_on = serializers.IntegerField(required=False, help_text="the version whose settings to start from")
    name = serializers.CharField(max_length=100, required=False)
    validity_days = serializers.JSONField(required=False, help_text='{"pos_sale": 30, "qr_registration": 90, ...}')
    conflict = serializers.ChoiceField(choices=Policy.Conflict.choices, required=False)
    rebind_wait_days = serializers.IntegerField(required=False)
    age_factors = serializers.JSONField(required=False, help_text='[[0, "1"], [15, "0.5"]]')
    default_rate = serializers.CharField(required=False)
    category_rates = serializers.JSONField(required=False)
    channel_rates = serializers.JSONField(required=False)
    excluded_categories = serializers.JSONField(required=False)
    excluded_channels = serializers.JSONField(required=False)
    store_share = serializers.CharField(required=False)
    departed_clerk = serializers.ChoiceField(choices=Policy.Departed.choices, required=False)
    lockup_days = serializers.IntegerField(required=False)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class PolicyListApi(APIView):
    """The policy versions; a new draft (based on a version, with changes)."""

    permission_classes = [IsStaff, model_permission("attribution.view_policy")]

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsStaff(), model_permission("attribution.add_policy")()]
        return super().get_permissions()

    @extend_schema(responses=PolicySerializer(many=True))
    def get(self, request):
        return Response(PolicySerializer(selectors.policy_list(), many=True).data)

    @extend_schema(request=PolicyInputSerializer, responses={201: PolicySerializer})
    def post(self, request):
        data = PolicyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        based_on = fields.pop("based_on", None)
        base = get_object_or_404(Policy, version=based_on) if based_on else None
        policy = services.policy_create(actor=request.user, based_on=base, **fields)
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


class PolicyAdoptApi(APIView):
    permission_classes = [IsStaff, model_permission("attribution.change_policy")]

    class InputSerializer(serializers.Serializer):
        effective_from = serializers.DateTimeField(required=False)

    @extend_schema(request=InputSerializer, responses=PolicySerializer)
    def post(self, request, version: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = get_object_or_404(Policy, version=version)
        policy = services.policy_adopt(actor=request.user, policy=policy, **data.validated_data)
        return Response(PolicySerializer(policy).data)


class SettlementLineSerializer(serializers.Serializer):
    store = serializers.CharField(source="store.code")
    clerk = serializers.SerializerMethodField()
    lines = serializers.IntegerField()
    base = serializers.DecimalField(max_digits=14, decimal_places=2)
    commission = serializers.DecimalField(max_digits=14, decimal_places=2)
    store_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    personal_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    adjustments = serializers.DecimalField(max_digits=14, decimal_places=2)
    payable = serializers.DecimalField(max_digits=14, decimal_places=2)

    def get_clerk(self, row) -> str | None:
        profile = getattr(row.clerk, "staff_profile", None) if row.clerk_id else None
        return profile.employee_code if profile else None


@extend_schema_field({"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$", "example": "2026-05"})
class MonthField(serializers.DateField):
    """A settlement month, ``YYYY-MM`` (``strftime("%Y")`` would not pad a year before 1000)."""

    def to_representation(self, value):
        return f"{value.year:04d}-{value.month:02d}" if value else None


class PeriodSerializer(serializers.ModelSerializer):
    month = MonthField()
    totals = serializers.SerializerMethodField()

    class Meta:
        model = SettlementPeriod
        fields = ["month", "status", "built_at", "fingerprint", "approved_at", "paid_at", "totals"]

    def get_totals(self, period) -> list[dict]:
        rows = period.totals.select_related("store", "clerk__staff_profile").order_by("store__code", "clerk_id")
        # a store manager reads their own store's lines only
        return SettlementLineSerializer(scope_to_user(rows, self.context["user"]), many=True).data


def _period(month: str) -> SettlementPeriod:
    from datetime import date

    try:
        year, mon = (int(p) for p in month.split("-"))
        day = date(year, mon, 1)
    except ValueError:
        raise NotFoundError("Months are written YYYY-MM.", code="period_not_found") from None
    period = SettlementPeriod.objects.filter(month=day).first()
    if period is None:
        raise NotFoundError("No settlement for that month yet.", code="period_not_found")
    return period


class PeriodListApi(APIView):
    """Settlement periods; building (again) a month's draft."""

    permission_classes = [IsStaff, model_permission("attribution.view_settlementperiod")]

    class InputSerializer(serializers.Serializer):
        month = serializers.DateField(input_formats=["%Y-%m", "%Y-%m-%d"])

    @extend_schema(responses=PeriodSerializer(many=True))
    def get(self, request):
        return Response(
            PeriodSerializer(
                SettlementPeriod.objects.order_by("-month")[:24], many=True, context={"user": request.user}
            ).data
        )

    @extend_schema(request=InputSerializer, responses={201: PeriodSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        period = settlement.settlement_build(actor=request.user, month=data.validated_data["month"])
        return Response(PeriodSerializer(period, context={"user": request.user}).data, status=status.HTTP_201_CREATED)


class PeriodDetailApi(APIView):
    permission_classes = [IsStaff, model_permission("attribution.view_settlementperiod")]

    @extend_schema(responses=PeriodSerializer)
    def get(self, request, month: str):
        return Response(PeriodSerializer(_period(month), context={"user": request.user}).data)


class PeriodAdjustApi(APIView):
    permission_classes = [IsStaff, model_permission("attribution.add_settlementadjustment")]

    class InputSerializer(serializers.Serializer):
        store = serializers.CharField()
        clerk = serializers.CharField(required=False, allow_blank=True)
        amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        reason = serializers.CharField(max_length=300)

    @extend_schema(request=InputSerializer, responses={201: PeriodSerializer})
    def post(self, request, month: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        clerk = _clerk(v.get("clerk", ""))
        period = _period(month)
        settlement.settlement_adjust(
            actor=request.user, period=period, store=_store(request.user, v["store"]), clerk=clerk,
            amount=v["amount"], reason=v["reason"],
        )  # fmt: skip
        period.refresh_from_db()
        return Response(PeriodSerializer(period, context={"user": request.user}).data, status=status.HTTP_201_CREATED)


class PeriodApproveApi(APIView):
    permission_classes = [IsStaff, model_permission("attribution.change_settlementperiod")]

    class InputSerializer(serializers.Serializer):
        fingerprint = serializers.CharField(max_length=64)

    @extend_schema(request=InputSerializer, responses=PeriodSerializer)
    def post(self, request, month: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        period = settlement.settlement_approve(
            actor=request.user, period=_period(month), fingerprint=data.validated_data["fingerprint"]
        )
        return Response(PeriodSerializer(period, context={"user": request.user}).data)


class PeriodPaidApi(APIView):
    permission_classes = [IsStaff, model_permission("attribution.change_settlementperiod")]

    @extend_schema(request=None, responses=PeriodSerializer)
    def post(self, request, month: str):
        period = settlement.settlement_mark_paid(actor=request.user, period=_period(month))
        return Response(PeriodSerializer(period, context={"user": request.user}).data)


class PeriodCsvApi(APIView):
    """The month for payroll (CSV)."""

    permission_classes = [IsStaff, model_permission("attribution.view_settlementperiod")]

    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request, month: str):
        period = _period(month)
        response = HttpResponse(
            settlement.settlement_csv(period, user=request.user), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="commission-{month}.csv"'
        return response


class SimulationRowSerializer(serializers.Serializer):
    store_id = serializers.IntegerField()
    clerk_id = serializers.IntegerField(allow_null=True)
    base = serializers.CharField()
    actual = serializers.CharField()
    simulated = serializers.CharField()
    difference = serializers.CharField()


class SimulationApi(APIView):
    """What-if: a month's sales decided again under a policy version (a draft, say), beside what they
    earned."""

    permission_classes = [IsStaff, model_permission("attribution.view_policy")]

    class InputSerializer(serializers.Serializer):
        month = serializers.DateField(input_formats=["%Y-%m", "%Y-%m-%d"])
        policy = serializers.IntegerField(help_text="the policy version to try")

    @extend_schema(request=InputSerializer, responses=SimulationRowSerializer(many=True))
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = get_object_or_404(Policy, version=data.validated_data["policy"])
        rows = settlement.simulate(month=data.validated_data["month"], policy=policy)
        return Response([{k: (f"{v:.2f}" if hasattr(v, "quantize") else v) for k, v in r.items()} for r in rows])
