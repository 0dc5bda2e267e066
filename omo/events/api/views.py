"""Webhook subscriptions for the frontends and partners, managed with their channel's API key: each
channel sees and changes only its own. The signing secret is shown when a subscription is made and
when it is rotated, never in lists."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from omo.core.errors import NotFoundError
from omo.events import webhooks
from omo.events.models import WebhookDelivery, WebhookSubscription
from omo.org.api.permissions import IsChannel


class SubscriptionOutputSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.code")
    disabled = serializers.SerializerMethodField()

    class Meta:
        model = WebhookSubscription
        fields = ["id", "channel", "name", "url", "event_types", "is_active", "disabled", "disabled_at",
                  "disabled_reason", "consecutive_failures", "created_at"]  # fmt: skip

    def get_disabled(self, sub) -> bool:
        return sub.disabled_at is not None


class SubscriptionWithSecretSerializer(SubscriptionOutputSerializer):
    class Meta(SubscriptionOutputSerializer.Meta):
        fields = [*SubscriptionOutputSerializer.Meta.fields, "secret"]


class SubscriptionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=500)
    event_types = serializers.ListField(child=serializers.CharField(max_length=60), min_length=1)


class SubscriptionUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, required=False)
    event_types = serializers.ListField(child=serializers.CharField(max_length=60), min_length=1, required=False)
    is_active = serializers.BooleanField(required=False)


class DeliveryOutputSerializer(serializers.ModelSerializer):
    event_type = serializers.CharField(source="event.event_type")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "status", "attempts", "response_status", "response_ms",
                  "delivered_at", "next_attempt_at", "last_error", "created_at"]  # fmt: skip


def _own(request, pk) -> WebhookSubscription:
    sub = WebhookSubscription.objects.select_related("channel").filter(pk=pk, channel=request.auth.channel).first()
    if sub is None:
        raise NotFoundError(_("No such webhook subscription."))
    return sub


class SubscriptionListApi(APIView):
    """GET: this channel's subscriptions. POST: a new one; the answer carries its signing secret
    (HMAC-SHA256 over ``"<X-OMO-Timestamp>.<body>"``, sent as ``X-OMO-Signature: v1=<hex>``)."""

    permission_classes = [IsChannel]

    @extend_schema(responses=SubscriptionOutputSerializer(many=True))
    def get(self, request):
        subs = WebhookSubscription.objects.select_related("channel").filter(channel=request.auth.channel)
        return Response(SubscriptionOutputSerializer(subs, many=True).data)

    @extend_schema(request=SubscriptionInputSerializer, responses={201: SubscriptionWithSecretSerializer})
    def post(self, request):
        data = SubscriptionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sub = webhooks.subscription_create(channel=request.auth.channel, **data.validated_data)
        return Response(SubscriptionWithSecretSerializer(sub).data, status=status.HTTP_201_CREATED)


class SubscriptionDetailApi(APIView):
    """GET one; PATCH its URL, event types or ``is_active`` (false pauses it: events wait for it;
    true also turns back on a subscription disabled after failures)."""

    permission_classes = [IsChannel]

    @extend_schema(responses=SubscriptionOutputSerializer)
    def get(self, request, pk: int):
        return Response(SubscriptionOutputSerializer(_own(request, pk)).data)

    @extend_schema(request=SubscriptionUpdateSerializer, responses=SubscriptionOutputSerializer)
    def patch(self, request, pk: int):
        sub = _own(request, pk)
        data = SubscriptionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sub = webhooks.subscription_update(subscription=sub, **data.validated_data)
        return Response(SubscriptionOutputSerializer(sub).data)


class SubscriptionRotateSecretApi(APIView):
    """A new signing secret (the old one stops at once); the answer carries it."""

    permission_classes = [IsChannel]

    @extend_schema(request=None, responses=SubscriptionWithSecretSerializer)
    def post(self, request, pk: int):
        sub = webhooks.subscription_rotate_secret(subscription=_own(request, pk))
        return Response(SubscriptionWithSecretSerializer(sub).data)


class DeliveryListApi(generics.ListAPIView):
    """The delivery log of one subscription, newest first: status, attempts, response status and time."""

    permission_classes = [IsChannel]
    serializer_class = DeliveryOutputSerializer
    filterset_fields = ["status"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return WebhookDelivery.objects.none()
        sub = _own(self.request, self.kwargs["pk"])
        return WebhookDelivery.objects.filter(subscription=sub).select_related("event").order_by("-id")
