"""The command line: options → one call into the engine → a table or one JSON object.

Thin on purpose: each command turns its options into arguments of one engine call. Nothing
imports this module. User errors (DeployerError) print one line and exit non-zero; anything
else is a bug and keeps its traceback. With `--json` a command prints exactly one JSON object
on stdout (errors too: `{"error": ...}`), and progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from deployer import __version__
from deployer.errors import ConfigError, DeployerError

app = typer.Typer(
    name="deployer",
    help="Put a trained model behind a monitored HTTPS endpoint on AWS Lambda, tested locally first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object on stdout.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"onnx-lambda-deployer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """onnx-lambda-deployer."""


def _fail(exc: DeployerError, as_json: bool) -> NoReturn:
    if as_json:
        sys.stdout.write(json.dumps({"error": str(exc)}) + "\n")
    err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _run(as_json: bool, call: Callable[[], T]) -> T:
    try:
        return call()
    except DeployerError as exc:
        _fail(exc, as_json)


def _emit_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, default=str) + "\n")
    sys.stdout.flush()


def _read_data(data: str | None) -> bytes | None:
    if data is None:
        return None
    if data.startswith("@"):
        source = data[1:]
        try:
            return sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as exc:
            raise ConfigError(f"--data {data}: cannot read {source} ({exc.strerror})") from exc
    return data.encode()


@app.command()
def serve(
    model: Annotated[Path, typer.Argument(help="A .onnx file or a model folder (model.onnx + manifest.json).")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).")] = 8080,
    timeout: Annotated[float, typer.Option(help="Function timeout in seconds, as Lambda enforces it.")] = 30.0,
    memory: Annotated[int, typer.Option(help="Function memory in MB.")] = 1024,
    as_json: JsonOpt = False,
) -> None:
    """Serve MODEL on 127.0.0.1 through the Lambda Runtime Interface Emulator until interrupted."""
    from deployer import local, routes

    def ready(url: str) -> None:
        name = routes.model_name(model)
        if as_json:
            _emit_json({"url": url, "model": name, "routes": routes.routes(name)})
            return
        err.print(f"[green]serving[/] {model} as [bold]{name}[/] on [bold]{url}[/] (Ctrl-C to stop)")
        err.print(f"  curl {url}/v2/models/{name}")
        err.print(f"  curl -H 'Content-Type: application/json' -d @request.json {url}/v2/models/{name}/infer")

    _run(as_json, lambda: local.serve(model, port=port, timeout_s=timeout, memory_mb=memory, ready=ready))


@app.command()
def invoke(
    model: Annotated[Path, typer.Argument(help="A .onnx file or a model folder.")],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Request body: JSON text, @FILE, or @- for stdin.")
    ] = None,
    path: Annotated[
        str | None, typer.Option("--path", help="Route; default: the v2 infer route (TF predict for 'instances').")
    ] = None,
    method: Annotated[str | None, typer.Option(help="HTTP method; default POST with --data, else GET.")] = None,
    content_type: Annotated[str, typer.Option(help="Content-Type of the body.")] = "application/json",
    as_json: JsonOpt = False,
) -> None:
    """Invoke MODEL once through the local runtime (emulator + API Gateway emulation) and print the answer."""
    from deployer import local, routes

    def call() -> Any:
        body = _read_data(data)
        route = path or routes.default_route(routes.model_name(model), body)
        verb = (method or ("POST" if body is not None else "GET")).upper()
        with err.status(f"starting the Lambda runtime for {model}…"):
            with local.LocalEndpoint(model, port=0) as endpoint:
                return route, verb, endpoint.request(verb, route, body, {"Content-Type": content_type})

    route, verb, response = _run(as_json, call)
    try:
        payload: Any = response.json()
    except ValueError:
        payload = response.body.decode("utf-8", "replace")
    if as_json:
        _emit_json({"status": response.status, "method": verb, "path": route, "body": payload})
    else:
        style = "green" if response.status < 400 else "red"
        err.print(f"[{style}]{response.status}[/] {verb} {route}", highlight=False)
        if isinstance(payload, (dict, list)):
            out.print_json(data=payload)
        else:
            out.print(payload, highlight=False)
    if response.status >= 400:
        raise typer.Exit(1)


def main() -> None:
    app()
