"""DRF permissions shared by every app's API."""

from rest_framework.permissions import BasePermission

from omo.org.access import roles_of
from omo.org.models import ChannelCredential


def is_channel_request(request) -> bool:
    return isinstance(request.auth, ChannelCredential)


class IsStaff(BasePermission):
    """A logged-in staff member with a role (or a superuser)."""

    def has_permission(self, request, view):
        user = request.user
        if is_channel_request(request) or not getattr(user, "is_authenticated", False):
            return False
        return user.is_superuser or bool(roles_of(user))


class IsChannel(BasePermission):
    """A frontend calling with its sales channel's API key."""

    def has_permission(self, request, view):
        return is_channel_request(request)


class IsStaffOrChannel(BasePermission):
    def has_permission(self, request, view):
        return IsChannel().has_permission(request, view) or IsStaff().has_permission(request, view)


def model_permission(perm: str) -> type[BasePermission]:
    """A permission class requiring the Django permission ``perm`` (``"app.codename"``) of the role."""

    class HasModelPermission(BasePermission):
        def has_permission(self, request, view):
            return not is_channel_request(request) and request.user.has_perm(perm)

    HasModelPermission.__name__ = f"Has_{perm.replace('.', '_')}"
    return HasModelPermission
