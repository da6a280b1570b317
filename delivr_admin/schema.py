"""OpenAPI schema generation: unique component names for nested serializers, and the auth schemes.

Every API view nests `InputSerializer` / `OutputSerializer`; drf-spectacular names components after the
class name alone, so all of them collided into one "InputRequest" and one "Output" component and the schema
described most endpoints with another endpoint's body. Nested serializers are named after their view.

drf-spectacular documents request bodies of POST/PUT/PATCH only: a DELETE that takes a body
(DELETE /api/v1/lists/batch with `{"ids": [...]}`) gets it documented when its view declares one.
`error_responses_postprocess` adds the errors every view can answer whatever its code says: 401 where an
authenticator runs (a wrong or missing credential), 403 where a permission can refuse, 429 where a throttle
applies.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import SAFE_METHODS, AllowAny


class DelivrAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        cls = serializer.__class__
        outer, _, own = cls.__qualname__.rpartition(".")
        if outer and "<locals>" not in outer:
            # ApiClientCreateApi.InputSerializer -> "ApiClientCreateApiInputSerializer"
            return outer.replace(".", "") + own
        return super().get_serializer_name(serializer, direction)

    def _get_request_body(self, direction="request"):
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self._get_serializer = lambda: None  # only a declared @extend_schema(request=...), never a guess
        try:
            declared = self.get_request_serializer()
        finally:
            del self._get_serializer
        if declared is None:
            return None
        self.method = "POST"  # the base class documents bodies for POST/PUT/PATCH only
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_DESCRIPTIONS = {
    "401": "Missing or invalid credentials.",
    "403": "The caller's role cannot do this.",
    "429": "Rate limited: retry after the Retry-After header's seconds.",
}


def _permission_can_refuse(view_cls, method: str) -> bool:
    """Whether a permission beyond "authenticated" can refuse this method (a role check): 403."""
    from delivr_admin.permissions import CanWrite, HasPrincipal

    for permission in getattr(view_cls, "permission_classes", []):
        if permission in (AllowAny, HasPrincipal):
            continue
        if permission is CanWrite and method in SAFE_METHODS:
            continue
        return True
    return False


def error_responses_postprocess(result, generator, request, public):
    """Documents 401/403/429 (the Error component) on the operations that can answer them."""
    if "Error" not in result.get("components", {}).get("schemas", {}):
        return result
    for path, _path_regex, method, view in generator.endpoints:
        operation = result["paths"].get(path, {}).get(method.lower())
        if operation is None:
            continue
        view_cls = view.cls
        codes = []
        if getattr(view_cls, "authentication_classes", []):
            codes.append("401")
        if _permission_can_refuse(view_cls, method):
            codes.append("403")
        if getattr(view_cls, "throttle_classes", []):
            codes.append("429")
        responses = operation.setdefault("responses", {})
        for code in codes:
            responses.setdefault(
                code,
                {
                    "content": {"application/json": {"schema": ERROR_REF}},
                    "description": ERROR_DESCRIPTIONS[code],
                },
            )
        operation["responses"] = dict(sorted(responses.items()))
    return result


class JWTScheme(OpenApiAuthenticationExtension):
    target_class = "delivr_admin.auth.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """X-API-Key with X-Api-Secret: both headers together (the secret may be optional for a client)."""

    target_class = "delivr_admin.auth.ApiKeyAuthentication"
    name = ["apiKey", "apiSecret"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "apiKey", "in": "header", "name": "X-Api-Secret"},
        ]


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "delivr_admin.auth.SessionPrincipalAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
