"""OpenAPI schema tweaks (drf-spectacular)."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """Names a serializer nested in a view (``CartPickupApi.InputSerializer``) after its view, so the
    one-API-class-per-operation style (nested Input/Output serializers) gives unique component names."""

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else serializer.__class__
        owner = cls.__qualname__.split(".")[0] if "." in cls.__qualname__ else ""
        if owner and owner != cls.__name__ and not name.startswith(owner.removesuffix("Api")):
            return owner.removesuffix("Api") + name
        return name
