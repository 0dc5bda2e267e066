"""OpenAPI schema tweaks (drf-spectacular): component names, and the error responses of every operation."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "Every error of the API has this shape (`omo.core.api.exception_handler`): DRF's own errors "
        "(validation, authentication, permission, not found, parse, media type, throttling) and the "
        "services' `ApplicationError`s alike."
    ),
    "properties": {
        "code": {
            "type": "string",
            "description": (
                "Machine-readable and stable, for frontends to switch on: `invalid`, `parse_error`, "
                "`not_authenticated`, `authentication_failed`, `permission_denied`, `not_found`, "
                "`unsupported_media_type`, `throttled`, `conflict`, `retry`, `rule_violated`, "
                "`database_unavailable`, or a more precise code of the operation (`insufficient_stock` ...)."
            ),
        },
        "message": {"type": "string", "description": "For people, in the language of the request."},
        "details": {
            "description": (
                "What was wrong. For `invalid`: the input's fields (nested as in the input) each with a list "
                "of messages, `non_field_errors` for the input as a whole (a list for list input). Otherwise "
                "particular to the code (e.g. the SKUs that are short), often an empty object."
            ),
        },
    },
    "required": ["code", "message", "details"],
}

# Status -> when it happens. Which of them an operation documents is decided in ``AutoSchema``.
ERROR_RESPONSES = {
    "400": "The input is not valid (`invalid`, with the fields in `details`), the body cannot be parsed "
    "(`parse_error`), or a service refused the request.",
    "401": "No credentials (`not_authenticated`), or a wrong, expired or revoked channel key "
    "(`authentication_failed`; `WWW-Authenticate: Api-Key`).",
    "403": "The caller may not do this (`permission_denied`): a channel key on a staff operation, a role "
    "without the permission, another store, or a session without its CSRF token on a write.",
    "404": "Something the path, the query or the input names does not exist or is outside the caller's "
    "scope (`not_found` or a more precise code), or a page beyond the last.",
    "409": "The request clashes with the current state or a concurrent request (`conflict` or a more precise "
    "code); `retry` (with `Retry-After`) when the database broke a deadlock: nothing was written.",
    "415": "The body is not JSON, form data or multipart (`unsupported_media_type`).",
    "422": "Well-formed input that a business rule refuses (`rule_violated` or a more precise code).",
    "429": "Too many requests (`throttled`); `Retry-After` says when to try again.",
    "503": "The database is unavailable for a moment (`database_unavailable`, `Retry-After`): nothing was saved.",
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(SpectacularAutoSchema):
    """Names nested serializers after their view, and documents the errors each operation can answer."""

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        """Names a serializer nested in a view (``CartPickupApi.InputSerializer``) after its view, so the
        one-API-class-per-operation style (nested Input/Output serializers) gives unique component names."""
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else serializer.__class__
        owner = cls.__qualname__.split(".")[0] if "." in cls.__qualname__ else ""
        if owner and owner != cls.__name__ and not name.startswith(owner.removesuffix("Api")):
            return owner.removesuffix("Api") + name
        return name

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        self._allow_empty_filters(operation)
        responses = operation["responses"]
        error = self._error_component()
        for status in self.error_statuses(operation):
            # an explicit ``extend_schema(responses=...)`` of the view wins
            responses.setdefault(
                status,
                {"content": {"application/json": {"schema": error}}, "description": ERROR_RESPONSES[status]},
            )
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def error_statuses(self, operation) -> list[str]:
        """The error statuses this operation can answer, from what the view and the operation declare."""
        view = self.view
        authenticators = [auth() if isinstance(auth, type) else auth for auth in view.get_authenticators()]
        permissions = view.get_permissions()
        open_to_all = all(isinstance(permission, AllowAny) for permission in permissions)
        uses_session = any(isinstance(auth, SessionAuthentication) for auth in authenticators)
        unsafe = self.method in UNSAFE_METHODS

        statuses = ["400"]
        if authenticators:
            statuses.append("401")  # a wrong channel key is refused even where anybody may call
        if not open_to_all or (unsafe and uses_session):
            statuses.append("403")
        statuses.append("404")  # services look up what the input names; some views read undeclared filters
        if unsafe:
            statuses += ["409", "422"]
        if operation.get("requestBody"):
            statuses.append("415")
        if view.get_throttles():
            statuses.append("429")
        statuses.append("503")
        return statuses

    def _allow_empty_filters(self, operation) -> None:
        """A filter of a list (django-filter) given empty, ``?kind=``, is not applied: say so in its enum."""
        filterset_class = getattr(self.view, "filterset_class", None)
        names = (
            set(filterset_class.base_filters) if filterset_class else set(getattr(self.view, "filterset_fields", ()))
        )
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and parameter["name"] in names and "" not in schema.get("enum", [""]):
                schema["enum"] = [*schema["enum"], ""]
                if schema.get("type") == "boolean":  # a strict yes/no filter spelled as a choice of words
                    schema["type"] = "string"

    def _error_component(self) -> dict:
        component = ResolvedComponent(
            name=ERROR_COMPONENT, type=ResolvedComponent.SCHEMA, object=ERROR_COMPONENT, schema=ERROR_SCHEMA
        )
        self.registry.register_on_missing(component)
        return component.ref
