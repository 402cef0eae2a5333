"""Compressed request bodies, as API Gateway takes them: gzip and deflate decoded, under a cap.

A REST API with payload compression accepts `Content-Encoding: gzip | deflate | identity` on a
request, decodes the body before the integration sees it, and refuses any other coding with 415.
Clients use it: tritonclient's `request_compression_algorithm` sends gzip or deflate bodies (with
`Inference-Header-Content-Length` counting the *decoded* bytes), so the gateway decodes too.

The cap: the decoded body may not exceed Lambda's invoke limit (6,291,456 bytes); past it the
request is a 413, found while inflating (the decompressor is asked for at most cap + 1 bytes), so
a "zip bomb" costs at most 6 MB of memory and ~10 ms of CPU, whatever its ratio. There is no
separate ratio cap: the absolute cap bounds the work, and a ratio cap would refuse honest bodies
(a JSON batch of zero-padded pixels deflates several hundred to one). Stacked codings
("gzip, gzip") have no honest use: 415. A body that is not valid for its coding is a 400 naming
the coding. The event then carries the decoded body and no Content-Encoding header.
"""

from __future__ import annotations

import zlib

__all__ = ["decode_body", "BodyRefused", "SUPPORTED"]

SUPPORTED = ("gzip", "deflate", "identity")
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyRefused(Exception):
    """A body the gateway will not pass on: `status` and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def decode_body(body: bytes, codings: list[str], cap: int) -> bytes:
    """The body with its content codings (the Content-Encoding header values) undone.

    Raises BodyRefused: 415 for an unsupported or stacked coding, 400 for a corrupt body,
    413 when the decoded body would be over `cap` bytes.
    """
    names = [name.strip().lower() for value in codings for name in value.split(",") if name.strip()]
    applied = [name for name in names if name != "identity"]
    for name in applied:
        if name not in _WBITS:
            raise BodyRefused(
                415, f"Content-Encoding {name[:40]!r} is not supported: send the body as gzip, deflate or identity"
            )
    if not applied:
        return body
    if len(applied) > 1:
        raise BodyRefused(415, f"stacked content codings ({', '.join(applied)}) are not supported: apply one of gzip, deflate")
    name = applied[0]
    try:
        if name == "deflate":
            try:
                return _inflate(body, zlib.MAX_WBITS, cap, name)  # RFC 9110's deflate: the zlib format
            except zlib.error:
                return _inflate(body, -zlib.MAX_WBITS, cap, name)  # what some clients send: raw deflate
        return _inflate(body, _WBITS[name], cap, name)
    except zlib.error as exc:
        raise BodyRefused(400, f"the request body is not valid {name} data ({exc})") from exc


def _inflate(data: bytes, wbits: int, cap: int, name: str) -> bytes:
    out: list[bytes] = []
    total = 0
    while True:  # one pass per gzip member: concatenated members are one valid gzip body
        inflater = zlib.decompressobj(wbits)
        pending = data
        while not inflater.eof:
            chunk = inflater.decompress(pending, cap + 1 - total)
            total += len(chunk)
            if total > cap:
                raise BodyRefused(
                    413, f"the {name} request body decodes to more than {cap} bytes, Lambda's limit per invocation: "
                    "send a smaller batch"
                )
            if not chunk and len(inflater.unconsumed_tail) >= len(pending):
                raise BodyRefused(400, f"the request body is truncated {name} data")
            out.append(chunk)
            pending = inflater.unconsumed_tail
        data = inflater.unused_data
        if not data:
            return b"".join(out)
        if wbits != _WBITS["gzip"]:
            raise BodyRefused(400, f"the request body has {len(data)} bytes after the end of its {name} data")
