"""The Docker daemon as the image builder sees it: a small typed surface over the docker CLI.

`Docker` is the protocol `deployer.image.build` takes (tests pass a fake); `DockerCLI` is the
implementation, one `docker ...` subprocess per call. The CLI rather than the SDK: it is what
users have, it honours their contexts and DOCKER_HOST, and the `docker` Python package comes
only with aws-sam-cli (the `local` extra).

Builds always use the classic builder (DOCKER_BUILDKIT=0): the layer digests are reproducible
with it (measured: deployer/image/context.py says how), and BuildKit is not available on every
daemon this runs against. Failures are DeployerErrors with the fix in one line:

    docker missing          → DependencyError  (install Docker)
    daemon not answering    → LocalRuntimeError (infra/dockerd/start, or start Docker)
    build failed            → LocalRuntimeError (the last lines of the build's output)
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from deployer.errors import DependencyError, LocalRuntimeError

__all__ = ["Docker", "DockerCLI", "Mount", "NO_DAEMON_FIX"]

NO_DAEMON_FIX = (
    "start one with infra/dockerd/start (this repository's starter, Debian's docker.io) or start Docker "
    "Desktop / `systemctl start docker`"
)
_INSTALL_FIX = "install Docker (Debian: apt-get install docker.io; elsewhere: https://docs.docker.com/get-docker/)"

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class Mount:
    """A host folder bind-mounted into a one-off container."""

    source: Path
    target: str
    read_only: bool = False

    def arg(self) -> str:
        return f"type=bind,source={self.source},target={self.target}" + (",readonly" if self.read_only else "")


class Docker(Protocol):
    """What the image builder needs from a Docker daemon."""

    def info(self) -> dict[str, Any]:
        """The daemon's `docker info`; raises DependencyError / LocalRuntimeError when there is none."""
        ...

    def inspect_image(self, ref: str) -> dict[str, Any] | None:
        """`docker image inspect` of `ref`, or None when the image is not in the local store."""
        ...

    def pull(self, ref: str) -> str | None:
        """Pull `ref`; None on success, else the daemon's one-line reason."""
        ...

    def run(
        self,
        image: str,
        args: Sequence[str],
        *,
        entrypoint: str,
        mounts: Sequence[Mount] = (),
        user: str | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """Run a one-off container with no network; it is removed when it exits."""
        ...

    def build(
        self,
        context: Path,
        *,
        tag: str,
        dockerfile: Path,
        no_cache: bool = False,
        output: Callable[[str], None] | None = None,
    ) -> str:
        """Build the image with the classic builder and no network; returns its id."""
        ...

    def history(self, ref: str) -> list[dict[str, Any]]:
        """`docker history` of `ref`, newest step first, sizes in bytes."""
        ...

    def remove_image(self, ref: str) -> bool:
        """Remove `ref` (not forced: an image in use or with other tags stays); True if removed."""
        ...

    def tagged(self, repository: str, label: str) -> list[str]:
        """`repository:tag` of the local images of `repository` with `label` (key=value), newest first."""
        ...


class DockerCLI:
    """`Docker` over the docker command line. `runner` is subprocess.run (tests may inject)."""

    def __init__(
        self,
        executable: str = "docker",
        *,
        environ: Mapping[str, str] | None = None,
        runner: Runner = subprocess.run,
    ) -> None:
        self.executable = executable
        env = dict(os.environ if environ is None else environ)
        env["DOCKER_BUILDKIT"] = "0"  # the classic builder: reproducible layers (see module docstring)
        self._env = env
        self._runner = runner
        self._checked = False

    # -- plumbing

    def _docker(
        self, *args: str, timeout: float = 120, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        try:
            return self._runner(
                [self.executable, *args],
                env=self._env,
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input_text,
                stdin=None if input_text is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise DependencyError(f"the docker command is not installed: {_INSTALL_FIX}") from exc
        except subprocess.TimeoutExpired as exc:
            raise LocalRuntimeError(f"docker {args[0]} did not finish in {timeout:.0f} s") from exc

    # -- Docker

    def info(self) -> dict[str, Any]:
        proc = self._docker("info", "--format", "{{json .}}", timeout=30)
        text = proc.stdout.strip()
        data: dict[str, Any] = {}
        if text:
            try:
                data = json.loads(text)
            except ValueError:
                data = {}
        # `docker info` exits 0 with ServerErrors when only the client works.
        if proc.returncode != 0 or data.get("ServerErrors") or not data.get("ServerVersion"):
            reason = _first_line(proc.stderr) or "; ".join(data.get("ServerErrors") or []) or "no answer"
            raise LocalRuntimeError(f"no Docker daemon answers ({reason}): {NO_DAEMON_FIX}")
        self._checked = True
        return data

    def inspect_image(self, ref: str) -> dict[str, Any] | None:
        proc = self._docker("image", "inspect", "--format", "{{json .}}", ref)
        if proc.returncode != 0:
            if "no such image" in proc.stderr.lower():
                return None
            self._raise_daemon_error("image inspect", proc)
        return dict(json.loads(proc.stdout))

    def pull(self, ref: str) -> str | None:
        proc = self._docker("pull", "--quiet", ref, timeout=900)
        return None if proc.returncode == 0 else (_first_line(proc.stderr) or f"exit status {proc.returncode}")

    def run(
        self,
        image: str,
        args: Sequence[str],
        *,
        entrypoint: str,
        mounts: Sequence[Mount] = (),
        user: str | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["run", "--rm", "--network", "none", "--entrypoint", entrypoint]
        for mount in mounts:
            cmd += ["--mount", mount.arg()]
        if user:
            cmd += ["--user", user]
        return self._docker(*cmd, image, *args, timeout=timeout)

    def build(
        self,
        context: Path,
        *,
        tag: str,
        dockerfile: Path,
        no_cache: bool = False,
        output: Callable[[str], None] | None = None,
    ) -> str:
        iidfile = context.parent / f".{context.name}.iid.{os.getpid()}"
        cmd = [
            self.executable, "build", "--network", "none", "--force-rm", "--iidfile", str(iidfile),
            "--tag", tag, "--file", str(dockerfile),
        ]  # fmt: skip
        if no_cache:
            cmd.append("--no-cache")
        cmd.append(str(context))
        lines: list[str] = []
        try:
            with subprocess.Popen(
                cmd, env=self._env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                stdin=subprocess.DEVNULL, bufsize=1,
            ) as proc:  # fmt: skip
                assert proc.stdout is not None
                for line in proc.stdout:
                    lines.append(line.rstrip("\n"))
                    if output is not None and line.strip():
                        output(line.rstrip("\n"))
                code = proc.wait()
            if code != 0:
                tail = "\n".join(line for line in lines[-15:] if "DEPRECATED" not in line)
                if "Cannot connect to the Docker daemon" in tail:
                    raise LocalRuntimeError(f"no Docker daemon answers: {NO_DAEMON_FIX}")
                raise LocalRuntimeError(f"docker build of {tag} failed (exit {code}):\n{tail}")
            return iidfile.read_text(encoding="utf-8").strip()
        except FileNotFoundError as exc:
            raise DependencyError(f"the docker command is not installed: {_INSTALL_FIX}") from exc
        finally:
            iidfile.unlink(missing_ok=True)

    def history(self, ref: str) -> list[dict[str, Any]]:
        proc = self._docker("history", "--no-trunc", "--human=false", "--format", "{{json .}}", ref)
        if proc.returncode != 0:
            self._raise_daemon_error("history", proc)
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    def remove_image(self, ref: str) -> bool:
        return self._docker("image", "rm", ref).returncode == 0

    def tagged(self, repository: str, label: str) -> list[str]:
        proc = self._docker("image", "ls", "--filter", f"label={label}", "--format", "{{.Repository}}:{{.Tag}}", repository)
        if proc.returncode != 0:
            self._raise_daemon_error("image ls", proc)
        return [line.strip() for line in proc.stdout.splitlines() if line.strip() and not line.strip().endswith(":<none>")]

    def _raise_daemon_error(self, what: str, proc: subprocess.CompletedProcess[str]) -> None:
        text = _first_line(proc.stderr)
        if "Cannot connect to the Docker daemon" in proc.stderr or "Is the docker daemon running" in proc.stderr:
            raise LocalRuntimeError(f"no Docker daemon answers: {NO_DAEMON_FIX}")
        raise LocalRuntimeError(f"docker {what} failed: {text}")


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
