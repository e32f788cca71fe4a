from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Monitored accounts"

    def ready(self) -> None:
        from accounts.permissions import admin_group_permissions_sync

        post_migrate.connect(admin_group_permissions_sync, dispatch_uid="admin-group-permissions")
