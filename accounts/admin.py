from django.contrib import admin

from .forms import AdminLoginForm
from .models import ApiClient, Membership, Organization, Project, User

admin.site.login_form = AdminLoginForm

admin.site.register(Organization)
admin.site.register(Project)
admin.site.register(Membership)


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    """Users without their password hash (the default form showed and accepted it as text)."""

    list_display = ("email", "first_name", "last_name", "is_active", "is_staff", "is_superuser")
    search_fields = ("email",)
    exclude = ("password", "user_permissions")
    readonly_fields = ("last_login", "date_joined")


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Key and secret hashes stay out of admin; clients are created in the product, which shows the secret
    once (one made here would have none)."""

    list_display = ("name", "organization", "key_prefix", "enforce_secret", "created_at")
    exclude = ("key_hash", "secret_hash")

    def has_add_permission(self, request):
        return False
