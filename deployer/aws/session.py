"""`connect`: profile, region and endpoint → one boto3 session and the clients the deployer uses.

boto3's own conventions, nothing new: `--profile` (else AWS_PROFILE, else the default chain),
`--region` (else AWS_DEFAULT_REGION or the profile's region, else AWS_REGION), and
`AWS_ENDPOINT_URL` (botocore reads it; `endpoint_url` here overrides it, for the local target).
Each problem a user can fix is a one-line error before any call is made:

    unknown profile   → CredentialsError naming the profiles that exist
    no region         → RegionError naming --region / AWS_REGION
    unknown region    → RegionError (not in botocore's list of regions of any partition)
    no credentials    → CredentialsError (push without credentials deploys locally instead)

Clients retry a bounded number of times (botocore "standard" mode, 3 attempts) with short
connect timeouts, so an endpoint that does not answer fails in seconds, not minutes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deployer.aws.errors import CredentialsError, RegionError

__all__ = ["AwsSettings", "Aws", "connect", "has_credentials", "endpoint_from_env", "known_region"]

CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 60
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class AwsSettings:
    """Where to deploy: what the user asked for, before anything is resolved."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None  # None: botocore's own (AWS_ENDPOINT_URL or AWS)


@dataclass(frozen=True)
class Aws:
    """A resolved session: the clients of one account, region and endpoint."""

    session: Any  # boto3.session.Session
    region: str
    endpoint_url: str | None  # where calls go when not AWS (reported; see `explicit_endpoint`)
    profile: str | None
    explicit_endpoint: bool = False  # passed to clients; else botocore reads AWS_ENDPOINT_URL[_<SERVICE>]

    def client(self, service: str) -> Any:
        from botocore.config import Config

        config = Config(
            retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            user_agent_extra="onnx-lambda-deployer",
        )
        kwargs: dict[str, Any] = {"region_name": self.region, "config": config}
        if self.explicit_endpoint and self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return self.session.client(service, **kwargs)

    @property
    def custom_endpoint(self) -> bool:
        """True when calls go to an endpoint that is not AWS's (an emulator, a proxy)."""
        return bool(self.endpoint_url)

    def credentials(self) -> Any:
        return self.session.get_credentials()


def endpoint_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    value = (env.get("AWS_ENDPOINT_URL") or "").strip()
    return value or None


def has_credentials(settings: AwsSettings, session_factory: Callable[..., Any] | None = None) -> bool:
    """Whether credentials are configured for `settings`: environment, files, profiles, SSO, processes.

    The EC2 instance metadata service is not asked (it would send a request off this machine
    just to choose a target); on an instance whose role is its only credential, pass --target aws.
    """
    try:
        session = _session(settings, session_factory)
        resolver = session._session.get_component("credential_provider")
        if resolver.get_provider("iam-role") is not None:
            resolver.remove("iam-role")
        return session.get_credentials() is not None
    except CredentialsError:
        return settings.profile is not None
    except AttributeError:  # a session without botocore's resolver (a fake): ask it plainly
        session = _session(settings, session_factory)
        return session.get_credentials() is not None


def known_region(session: Any, region: str) -> bool:
    for partition in session.get_available_partitions():
        if region in session.get_available_regions("cloudformation", partition_name=partition):
            return True
    return False


def connect(
    settings: AwsSettings,
    *,
    session_factory: Callable[..., Any] | None = None,
    environ: Mapping[str, str] | None = None,
    require_credentials: bool = True,
) -> Aws:
    """Resolve `settings` into an `Aws` (see module doc for the errors). No network call."""
    env = os.environ if environ is None else environ
    session = _session(settings, session_factory)
    # boto3 reads AWS_DEFAULT_REGION and the profile; AWS_REGION is what the other SDKs read.
    region = settings.region or session.region_name or (env.get("AWS_REGION") or "").strip() or None
    if not region:
        raise RegionError(
            "no AWS region configured: pass --region REGION, set AWS_REGION (or AWS_DEFAULT_REGION), or set region "
            "in the profile (aws configure)"
        )
    if not known_region(session, region):
        raise RegionError(
            f"unknown AWS region {region!r}: use a region such as us-east-1 or eu-west-1 (pass --region or set "
            f"AWS_REGION; update boto3 if the region is new)"
        )
    if require_credentials and session.get_credentials() is None:
        raise CredentialsError(
            "no AWS credentials found: configure a profile (aws configure, then --profile NAME) or set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; without any, push deploys to the local target"
        )
    endpoint = settings.endpoint_url or endpoint_from_env(environ)
    return Aws(
        session=session, region=region, endpoint_url=endpoint, profile=settings.profile,
        explicit_endpoint=settings.endpoint_url is not None,
    )


def _session(settings: AwsSettings, session_factory: Callable[..., Any] | None) -> Any:
    import boto3
    from botocore.exceptions import ProfileNotFound

    factory = session_factory or boto3.session.Session
    try:
        return factory(profile_name=settings.profile) if settings.profile else factory()
    except ProfileNotFound as exc:
        known = ", ".join(sorted(boto3.session.Session().available_profiles)) or "none"
        raise CredentialsError(
            f"AWS profile {settings.profile!r} not found (profiles configured: {known}); create it with "
            f"`aws configure --profile {settings.profile}` or pass another --profile"
        ) from exc
