"""The one place that makes AWS sessions and clients.

The product keeps no AWS keys. Its own identity comes from boto3's standard credential chain; each
monitored account is reached by AssumeRole with that account's ExternalId. The assumed credentials
refresh themselves before they expire, so a scan longer than the role session does not fail halfway.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)

ROLE_SESSION_NAME = "backup-posture-scan"
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def client_config() -> Config:
    """Adaptive retries (client-side rate limiting on throttling) with bounded connect and read time."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": settings.AWS_MAX_ATTEMPTS},
        connect_timeout=settings.AWS_CONNECT_TIMEOUT,
        read_timeout=settings.AWS_READ_TIMEOUT,
        user_agent_extra="backup-posture",
    )


def _endpoint_url() -> str | None:
    return settings.AWS_ENDPOINT_URL or None


def _rewrite_s3control_host(request, **kwargs) -> None:
    """Keep account-level S3 calls on a loopback simulator.

    botocore puts the account id into the S3 Control host name (`<account>.127.0.0.1`), which would
    be a DNS lookup instead of a loopback connection. Only registered when AWS_ENDPOINT_URL points
    at a loopback address, that is, at the moto simulator of the tests and the demo.
    """
    parts = urlsplit(request.url)
    host = parts.hostname or ""
    account_id, _, rest = host.partition(".")
    if rest in _LOOPBACK_HOSTS and account_id.isdigit():
        netloc = rest if parts.port is None else f"{rest}:{parts.port}"
        request.url = urlunsplit(parts._replace(netloc=netloc))
        request.headers["x-amz-account-id"] = account_id


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    """Return one loader of botocore's service models for the whole process.

    Each botocore session otherwise parses the JSON models again (about 0.1 s per service), and a
    scan makes a new session per account.
    """
    return botocore.loaders.create_loader()


def _boto3_session(core: botocore.session.Session | None = None) -> boto3.Session:
    """Return a boto3 session that uses the shared model loader."""
    core = core or botocore.session.get_session()
    loader = _shared_loader()
    core.register_component("data_loader", loader)
    session = boto3.Session(botocore_session=core)
    # boto3 appends its own data folder to the loader's search path for every session; keep one.
    loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
    return session


def _prepare(session: boto3.Session) -> boto3.Session:
    endpoint = _endpoint_url()
    if endpoint and urlsplit(endpoint).hostname in _LOOPBACK_HOSTS:
        session.events.register_first("before-send.s3-control", _rewrite_s3control_host)
    return session


def base_session() -> boto3.Session:
    """Return a session with the product's own identity, from the standard credential chain."""
    return _prepare(_boto3_session())


def sts_client(session: boto3.Session | None = None):
    session = session or base_session()
    return session.client(
        "sts",
        region_name=settings.AWS_STS_REGION,
        endpoint_url=_endpoint_url(),
        config=client_config(),
    )


def assume_role_session(*, role_arn: str, external_id: str) -> boto3.Session:
    """Return a session whose credentials come from AssumeRole and refresh before they expire.

    The first AssumeRole call happens on the first request, so a refused role surfaces as a
    ClientError from the first client call (or from `get_caller_identity` in `verify_role`).
    """
    base = base_session()
    sts = sts_client(base)

    def refresh() -> dict[str, str]:
        response = sts.assume_role(
            RoleArn=role_arn,
            RoleSessionName=ROLE_SESSION_NAME,
            ExternalId=external_id,
            DurationSeconds=settings.AWS_ROLE_SESSION_SECONDS,
        )
        credentials = response["Credentials"]
        logger.info("Assumed role %s until %s", role_arn, credentials["Expiration"])
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    core = botocore.session.get_session()
    core._credentials = DeferredRefreshableCredentials(  # noqa: SLF001 - botocore's documented way
        refresh_using=refresh, method="sts-assume-role"
    )
    return _prepare(_boto3_session(core))


class ClientFactory:
    """Hands out one client per (service, region) of a session; safe to share between threads."""

    def __init__(self, session: boto3.Session) -> None:
        self._session = session
        self._clients: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str):
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service, region_name=region, endpoint_url=_endpoint_url(), config=client_config()
                )
            return self._clients[key]


@dataclass(frozen=True)
class Verification:
    ok: bool
    message: str
    caller_arn: str = ""


def verify_role(*, account_id: str, role_arn: str, external_id: str) -> Verification:
    """AssumeRole with the ExternalId, then GetCallerIdentity; the account must be the registered one."""
    from botocore.exceptions import BotoCoreError, ClientError

    session = assume_role_session(role_arn=role_arn, external_id=external_id)
    try:
        identity = sts_client(session).get_caller_identity()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return Verification(
            ok=False,
            message=f"AssumeRole or GetCallerIdentity failed with {error.get('Code', 'an error')}: "
            f"{error.get('Message', str(exc))}",
        )
    except BotoCoreError as exc:
        return Verification(ok=False, message=f"Could not reach AWS STS: {exc}")
    returned = identity.get("Account", "")
    if returned != account_id:
        return Verification(
            ok=False,
            message=f"The role returned account {returned}, not the registered account {account_id}.",
            caller_arn=identity.get("Arn", ""),
        )
    return Verification(
        ok=True,
        message=f"Assumed the role at {timezone.now():%Y-%m-%d %H:%M} UTC as {identity.get('Arn', '')}.",
        caller_arn=identity.get("Arn", ""),
    )
