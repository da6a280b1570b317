"""OpenAPI schema generation: unique component names for nested serializers, and the auth schemes.

Every API view nests `InputSerializer` / `OutputSerializer`; drf-spectacular names components after the
class name alone, so all of them collided into one "InputRequest" and one "Output" component and the schema
described most endpoints with another endpoint's body. Nested serializers are named after their view.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


class DelivrAutoSchema(AutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        cls = serializer.__class__
        outer, _, own = cls.__qualname__.rpartition(".")
        if outer and "<locals>" not in outer:
            # ApiClientCreateApi.InputSerializer -> "ApiClientCreateApiInputSerializer"
            return outer.replace(".", "") + own
        return super().get_serializer_name(serializer, direction)


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
