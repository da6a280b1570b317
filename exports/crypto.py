"""Encryption of destination credentials at rest (Fernet), keyed by DELIVR_FIELD_ENCRYPTION_KEY.

Without that setting the key is derived from SECRET_KEY with HKDF-SHA256, so the web server and every worker
of one deployment agree on it. Changing either key makes saved credentials unreadable: re-enter them.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class CredentialError(Exception):
    """Saved credentials cannot be decrypted (the key changed) or are not a JSON object."""


@lru_cache(maxsize=4)
def _fernet(configured: str, secret_key: str) -> Fernet:
    if configured:
        return Fernet(configured.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"delivr-field-encryption", info=b"exports.credentials"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(settings.DELIVR_FIELD_ENCRYPTION_KEY, settings.SECRET_KEY)


def credentials_encrypt(credentials: dict) -> str:
    if not credentials:
        return ""
    return fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def credentials_decrypt(token: str) -> dict:
    if not token:
        return {}
    try:
        data = json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialError(
            "The saved credentials cannot be decrypted (the encryption key changed): enter them again."
        ) from exc
    if not isinstance(data, dict):
        raise CredentialError("The saved credentials are not an object: enter them again.")
    return data
