"""Optional Sentry error reporting, switched on by the SENTRY_DSN environment variable (see settings)."""


def init_sentry(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    """Reports unhandled errors of requests and Celery tasks, without personal data: no cookies, users, IPs
    or request bodies (bodies may carry emails and UID2 values)."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
    )
