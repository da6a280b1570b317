"""A real S3-compatible server for tests: moto's, started in this process on a free port.

Shared by the engine's remote-read tests and the output-store tests. moto's state is per process, so a
start resets it; `require_auth()` switches SigV4 checking on (after the setup uploads), from then on every
request must be signed with the IAM key the server handed out, as AWS would require.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import requests

ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)


@dataclass
class S3Server:
    endpoint: str
    key_id: str
    secret: str

    def client(self, *, boot: bool = False):
        """A boto3 S3 client; `boot=True` uses throwaway keys (only valid before require_auth())."""
        key_id, secret = ("boot", "boot") if boot else (self.key_id, self.secret)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def require_auth(self) -> None:
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=b"0", timeout=30).raise_for_status()

    @contextlib.contextmanager
    def unsigned_allowed(self) -> Iterator[None]:
        """moto checks signatures in the Authorization header only, not presigned query strings: requests
        through presigned links need its checks off (their signing is boto3's, trusted)."""
        from moto import settings as moto_settings

        before = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        try:
            yield
        finally:
            if before != float("inf"):
                self.require_auth()

    def storage_options(self) -> dict:
        """DELIVR_STORAGE_OPTIONS for this server (S3 and GCS-through-S3 both pointed at it)."""
        return {
            "s3_key_id": self.key_id,
            "s3_secret": self.secret,
            "s3_region": "us-east-1",
            "s3_endpoint": self.endpoint,
            "gcs_key_id": self.key_id,
            "gcs_secret": self.secret,
            "gcs_endpoint": self.endpoint,
        }


@contextlib.contextmanager
def moto_s3(buckets: tuple[str, ...] = ()) -> Iterator[S3Server]:
    """A running moto server with an IAM user `reader` allowed s3:* and the given buckets created."""
    from moto import settings as moto_settings
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    try:
        requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
        boot = {"endpoint_url": endpoint, "region_name": "us-east-1"}
        boot |= {"aws_access_key_id": "boot", "aws_secret_access_key": "boot"}
        iam = boto3.client("iam", **boot)
        iam.create_user(UserName="reader")
        iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        s3 = boto3.client("s3", **boot)
        for bucket in buckets:
            s3.create_bucket(Bucket=bucket)
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        server.stop()
