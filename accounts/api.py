"""Auth and API-client endpoints, as the Delivr Audience API guide and the May 2026 update describe."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from delivr_admin.fields import StrictBooleanField, StrictCharField, StrictEmailField, StrictUUIDField
from delivr_admin.permissions import IsOrgAdmin, IsSignedInUser, principal_of
from delivr_admin.ratelimit import client_ip

from . import selectors, services

ERROR = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorBody", {"code": serializers.CharField(), "message": serializers.CharField()}
        )
    },
)


class RegisterApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        email = StrictEmailField(max_length=254)
        password = StrictCharField(max_length=128, trim_whitespace=False)
        first_name = StrictCharField(max_length=150)
        last_name = StrictCharField(max_length=150)
        organization_name = StrictCharField(max_length=200)

    class OutputSerializer(serializers.Serializer):
        user_id = serializers.UUIDField()
        organization_id = serializers.UUIDField()
        email = serializers.EmailField()
        first_name = serializers.CharField()
        last_name = serializers.CharField()
        organization_name = serializers.CharField()

    @extend_schema(
        request=InputSerializer, responses={201: OutputSerializer, 400: ERROR, 409: ERROR, 429: ERROR}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, org = services.user_register(**data.validated_data, client_address=client_ip(request))
        out = {
            "user_id": user.id,
            "organization_id": org.id,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "organization_name": org.name,
        }
        return Response(self.OutputSerializer(out).data, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        email = StrictEmailField(max_length=254)
        password = StrictCharField(max_length=128, trim_whitespace=False)
        organization_id = StrictUUIDField(required=False)

    class OutputSerializer(serializers.Serializer):
        user_id = serializers.UUIDField()
        organization_id = serializers.UUIDField()
        token = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR, 429: ERROR},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, principal, token = services.user_login(**data.validated_data, client_address=client_ip(request))
        out = {"user_id": user.id, "organization_id": principal.organization.id, "token": token}
        return Response(self.OutputSerializer(out).data)


class ApiClientOutputSerializer(serializers.Serializer):
    """An API client as reads show it: never the secret, and only the key's first characters."""

    client_id = serializers.UUIDField(source="id")
    organization_id = serializers.UUIDField()
    name = serializers.CharField()
    api_key_prefix = serializers.CharField(source="key_prefix")
    enforce_secret = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class ApiClientCreateApi(APIView):
    permission_classes = [IsSignedInUser, IsOrgAdmin]

    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200)
        enforce_secret = StrictBooleanField(required=False, default=True)

    class OutputSerializer(serializers.Serializer):
        client_id = serializers.UUIDField()
        api_key = serializers.CharField()
        api_secret = serializers.CharField()
        created_at = serializers.CharField()

    @extend_schema(
        request=InputSerializer, responses={201: OutputSerializer, 400: ERROR, 401: ERROR, 403: ERROR}
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client, api_key, api_secret = services.api_client_create(
            principal=principal_of(request), **data.validated_data
        )
        out = {
            "client_id": client.id,
            "api_key": api_key,
            "api_secret": api_secret,
            "created_at": client.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
        return Response(self.OutputSerializer(out).data, status=status.HTTP_201_CREATED)


class ApiClientListApi(APIView):
    permission_classes = [IsOrgAdmin]

    @extend_schema(responses={200: ApiClientOutputSerializer(many=True), 401: ERROR, 403: ERROR})
    def get(self, request):
        clients = selectors.api_client_list(principal_of(request))
        return Response(ApiClientOutputSerializer(clients, many=True).data)


class ApiClientRetrieveApi(APIView):
    permission_classes = [IsOrgAdmin]

    @extend_schema(responses={200: ApiClientOutputSerializer, 404: ERROR})
    def get(self, request, app_id):
        client = selectors.api_client_get(principal_of(request), app_id)
        return Response(ApiClientOutputSerializer(client).data)


class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    organization_id = serializers.UUIDField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()


class ProjectListApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=200)

    @extend_schema(responses={200: ProjectOutputSerializer(many=True)})
    def get(self, request):
        return Response(
            ProjectOutputSerializer(selectors.project_list(principal_of(request)), many=True).data
        )

    @extend_schema(
        request=InputSerializer, responses={201: ProjectOutputSerializer, 400: ERROR, 403: ERROR, 409: ERROR}
    )
    def post(self, request):
        principal = principal_of(request)
        if not principal.is_admin:
            return Response(
                {"error": {"code": "forbidden", "message": "Only organization admins can add projects."}},
                status=403,
            )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(principal=principal, name=data.validated_data["name"])
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class OrganizationOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    parent_id = serializers.UUIDField(allow_null=True)
    cookies_enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class OrganizationListApi(APIView):
    @extend_schema(responses={200: OrganizationOutputSerializer(many=True)})
    def get(self, request):
        orgs = selectors.organization_list(principal_of(request))
        return Response(OrganizationOutputSerializer(orgs, many=True).data)
