"""The brand-defined member profile over HTTP: the definitions (for staff and every frontend), and the
logged-in member's own values and group entries (a frontend's channel key plus ``X-Member-Token``).

Values are objects of field key to value; what each field accepts and how it is stored is described in
``members.profiles``. A refused value is a 400 ``invalid_profile`` whose ``details.fields`` names every
field that is wrong and why."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from members import profiles, selectors
from members.api.views import IsMember
from members.models import ProfileEntry, ProfileGroup
from omo.core.errors import NotFoundError
from omo.org.api.permissions import IsStaffOrChannel

VALUES_HELP = (
    "Field key to value: text, a number (a JSON number or a decimal string), a date (YYYY-MM-DD) or one of "
    "the choices; null or an empty string clears a field."
)

GROUP_KEY = OpenApiParameter("group_key", str, OpenApiParameter.PATH, description="The key of a profile group.")
ENTRY_ID = OpenApiParameter(
    "entry_id", int, OpenApiParameter.PATH, description="The id of one of the member's entries."
)


class ProfileFieldSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    type = serializers.CharField(help_text="text, number, date or choice")
    required = serializers.BooleanField()
    choices = serializers.ListField(child=serializers.CharField(), help_text="For a choice: the allowed values.")
    max_length = serializers.IntegerField(help_text="For a text: the most characters.")
    min_value = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True, normalize_output=True)
    max_value = serializers.DecimalField(max_digits=14, decimal_places=4, allow_null=True, normalize_output=True)


class ProfileGroupSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    max_entries = serializers.IntegerField()
    fields = ProfileFieldSerializer(many=True, source="active_fields")


class ProfileEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    values = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.DictField(help_text=VALUES_HELP))
    def get_values(self, entry: ProfileEntry) -> dict:
        return selectors.profile_values_shown(self.context["fields"], entry.values)


class ProfileValuesInputSerializer(serializers.Serializer):
    values = serializers.DictField(help_text=VALUES_HELP)


class ProfileDefinitionsApi(APIView):
    """The brand's active profile fields of the member themselves, and the active repeatable groups
    with their fields, in display order."""

    permission_classes = [IsStaffOrChannel]

    class OutputSerializer(serializers.Serializer):
        fields = ProfileFieldSerializer(many=True)
        groups = ProfileGroupSerializer(many=True)

    @extend_schema(responses=OutputSerializer, operation_id="members_profile_definitions")
    def get(self, request):
        return Response(self.OutputSerializer(selectors.profile_definitions()).data)


class MyProfileApi(APIView):
    """GET: the logged-in member's profile values. PATCH ``{"values": {...}}``: sets (or, empty, clears)
    the fields given and keeps the others; every required field must have a value afterwards."""

    permission_classes = [IsMember]

    class InputSerializer(ProfileValuesInputSerializer):
        pass

    class OutputSerializer(serializers.Serializer):
        values = serializers.DictField(help_text=VALUES_HELP)

    def _body(self, member) -> dict:
        fields = selectors.profile_fields()
        return self.OutputSerializer({"values": selectors.profile_values_shown(fields, member.profile)}).data

    @extend_schema(responses=OutputSerializer, operation_id="members_me_profile_retrieve")
    def get(self, request):
        return Response(self._body(request.member))

    @extend_schema(request=InputSerializer, responses=OutputSerializer, operation_id="members_me_profile_update")
    def patch(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = profiles.member_profile_update(member=request.member, values=data.validated_data["values"])
        return Response(self._body(member))


def _group(key: str) -> ProfileGroup:
    group = ProfileGroup.objects.filter(key=key).first()
    if group is None:
        raise NotFoundError(_("There is no profile group %(key)s.") % {"key": key}, code="profile_group_not_found")
    return group


class MyProfileEntriesApi(APIView):
    """GET: the member's entries of a group (their pets, their prescriptions), oldest first. POST
    ``{"values": {...}}``: a new entry (422 ``profile_group_full`` at the group's limit)."""

    permission_classes = [IsMember]

    class InputSerializer(ProfileValuesInputSerializer):
        pass

    @extend_schema(
        parameters=[GROUP_KEY],
        responses=ProfileEntrySerializer(many=True),
        operation_id="members_me_profile_entries_list",
    )
    def get(self, request, group_key: str):
        group = _group(group_key)
        entries = ProfileEntry.objects.filter(member=request.member, group=group).order_by("id")
        fields = selectors.profile_fields(group=group)
        return Response(ProfileEntrySerializer(entries, many=True, context={"fields": fields}).data)

    @extend_schema(
        parameters=[GROUP_KEY],
        request=InputSerializer,
        responses={201: ProfileEntrySerializer},
        operation_id="members_me_profile_entries_create",
    )
    def post(self, request, group_key: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        group = _group(group_key)
        entry = profiles.profile_entry_add(member=request.member, group=group, values=data.validated_data["values"])
        fields = selectors.profile_fields(group=group)
        return Response(ProfileEntrySerializer(entry, context={"fields": fields}).data, status=status.HTTP_201_CREATED)


class MyProfileEntryApi(APIView):
    """PATCH ``{"values": {...}}``: changes the fields given of one of the member's entries. DELETE:
    removes it. Another member's entry is a 404, as if it did not exist."""

    permission_classes = [IsMember]

    class InputSerializer(ProfileValuesInputSerializer):
        pass

    def _entry(self, request, group_key: str, entry_id: int) -> ProfileEntry:
        entry = (
            ProfileEntry.objects.select_related("group")
            .filter(pk=entry_id, member=request.member, group__key=group_key)
            .first()
        )
        if entry is None:
            raise NotFoundError(_("There is no such profile entry."), code="profile_entry_not_found")
        return entry

    @extend_schema(
        parameters=[GROUP_KEY, ENTRY_ID],
        request=InputSerializer,
        responses=ProfileEntrySerializer,
        operation_id="members_me_profile_entry_update",
    )
    def patch(self, request, group_key: str, entry_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = self._entry(request, group_key, entry_id)
        entry = profiles.profile_entry_update(entry=entry, values=data.validated_data["values"])
        fields = selectors.profile_fields(group=entry.group)
        return Response(ProfileEntrySerializer(entry, context={"fields": fields}).data)

    @extend_schema(
        parameters=[GROUP_KEY, ENTRY_ID], responses={204: None}, operation_id="members_me_profile_entry_destroy"
    )
    def delete(self, request, group_key: str, entry_id: int):
        profiles.profile_entry_remove(entry=self._entry(request, group_key, entry_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
