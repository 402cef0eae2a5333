"""The local target's smoke test: the manifest's sample through the stack's URL in the local cloud.

The same request a client would send, to the same URL, answered by the version the alias points
at, running the image that was pushed (daemon.py). Nothing is served by the pushing process.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from deployer.local.cloud import client

__all__ = ["cloud_smoke", "http_sender"]


def http_sender(url: str, timeout_s: float = 120.0) -> Callable[[str, str, bytes, Mapping[str, str]], tuple[int, bytes]]:
    parts = urlsplit(url)
    base = parts.path.rstrip("/")

    def send(method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s)
        try:
            conn.request(method, base + path, body=body, headers=dict(headers))
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    return send


def cloud_smoke(info: client.CloudInfo) -> Callable[[Any], Any]:
    from deployer.deploy.smoke import SmokeResult, skipped, smoke_test

    def smoke(context: Any) -> SmokeResult:
        stack = str(context.config.stack_name)
        doc = client.refresh(info)
        served = next((s for s in doc["stacks"] if s["stack"] == stack), None)
        if served is None:
            return skipped(f"the local cloud serves no stage of {stack} (the template has no API?)")
        try:
            result = smoke_test(http_sender(served["url"]), context.manifest)
        except OSError as exc:
            return SmokeResult("failed", f"{served['url']} did not answer: {exc}")
        live = served["versions"][0] if served.get("versions") else {}
        where = f"{served['url']} (version {live.get('version')}, {live.get('image_kind', '?')} image " \
                f"{str(live.get('image_digest', ''))[:19]})"
        return replace(result, reason=f"{result.reason}; served by the local cloud at {where}")

    return smoke
