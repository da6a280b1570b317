from django.contrib import admin

from .models import ApiClient, Membership, Organization, Project, User

admin.site.register(User)
admin.site.register(Organization)
admin.site.register(Project)
admin.site.register(Membership)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "key_prefix", "enforce_secret", "created_at")
    exclude = ("key_hash", "secret_hash")
