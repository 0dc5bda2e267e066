"""API authentication for the frontends that sell through a channel (web shop, app, marketplace)."""

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from omo.org.services import channel_credential_authenticate


class ChannelClient:
    """``request.user`` for a call made with a channel key: authenticated, but no staff role and no store."""

    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    is_anonymous = False
    staff_profile = None
    _omo_roles = frozenset()

    def __init__(self, credential):
        self.credential = credential
        self.channel = credential.channel
        self.pk = None

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return f"channel {self.channel.code}"


class ChannelKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key omo_<prefix>_<secret>`` (or the ``X-Api-Key`` header)."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        raw = None
        if header:
            scheme, _sep, value = header.partition(" ")
            if scheme.lower() != self.keyword.lower():
                return None  # another scheme: not ours
            raw = value.strip()
        else:
            raw = request.META.get("HTTP_X_API_KEY", "").strip() or None
        if raw is None:
            return None
        credential = channel_credential_authenticate(raw)
        if credential is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked channel API key."))
        return ChannelClient(credential), credential

    def authenticate_header(self, request):
        return self.keyword


class ChannelKeyScheme(OpenApiAuthenticationExtension):
    target_class = "omo.org.api.authentication.ChannelKeyAuthentication"
    name = "channelKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Api-Key",
            "description": "A sales channel's API key, `omo_<prefix>_<secret>`.",
        }
