"""The local files the embedded default needs, made at start-up (DelivrAdminConfig.ready()), never at import.

Every entry point (manage.py, gunicorn, the Celery worker, pytest) runs django.setup() before it touches the
database, the broker or a session, so making them here is early enough.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def local_folders_ensure() -> None:
    """Makes var/, the static root and, with the filesystem broker, its queue and control folders."""
    folders = [Path(settings.VAR_DIR), Path(settings.STATIC_ROOT)]
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folders += [Path(options["data_folder_in"]), Path(options["control_folder"])]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)


def secret_key_ensure() -> None:
    """Without DJANGO_SECRET_KEY (local use), makes var/secret_key once and sets SECRET_KEY from it.

    Several processes may start at once: the file is created exclusively and whoever loses reads the winner's.
    """
    try:
        if settings.SECRET_KEY:
            return
    except ImproperlyConfigured:  # Django refuses to hand out an empty SECRET_KEY
        pass
    path = Path(settings.DELIVR_SECRET_KEY_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    settings.SECRET_KEY = path.read_text().strip()


def local_state_ensure() -> None:
    local_folders_ensure()
    secret_key_ensure()
