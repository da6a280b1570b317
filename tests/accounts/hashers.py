"""The product's Argon2 hasher, counting its verifications: tests see whether a sign-in ran the hasher."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class CountingArgon2PasswordHasher(Argon2PasswordHasher):
    verified = 0

    def verify(self, password, encoded):
        type(self).verified += 1
        return super().verify(password, encoded)
