"""The command line: options → one call into the engine → a table or one JSON object.

Thin on purpose: each command turns its options into arguments of one engine call. Nothing
imports this module. User errors (DeployerError) print one line and exit non-zero; anything
else is a bug and keeps its traceback. With `--json` a command prints exactly one JSON object
on stdout (errors too: `{"error": ...}`), and progress goes to stderr.

Start-up is part of every command's time (`invoke` is issue 12's local loop): no `from __future__
import annotations` here, since typer reads every command's annotations at each start and a string
annotation costs an eval and a compile (~15-25 ms over the ~120 options, measured); rich is loaded
on the first print; the version is read only for --version.
"""

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from deployer._clikit import App, LazyConsole, native_noise_filtered, progress
from deployer.errors import ConfigError, DeployerError

# App: flags without "<bool>", SOURCE not {source}, usage errors as JSON under --json, Ctrl-C → 130,
# the exit codes in every help page (deployer/_clikit.py).
app = App(
    name="deployer",
    help="Put a trained model behind a monitored HTTPS endpoint on AWS Lambda, tested locally first.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# rich is imported on first use (deployer/_clikit.py's LazyConsole; `_table` below): a command
# prints only once its work is under way, and `invoke` then overlaps that import with the runtime's init.
# emoji=False: text such as a model name or a log line holding ":cd:" is printed as written.
out = LazyConsole(emoji=False)
err = LazyConsole(stderr=True, emoji=False)

if TYPE_CHECKING:
    from rich.table import Table


def _table(**options: Any) -> "Table":
    from rich.table import Table

    return Table(**options)


T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object on stdout.")]
ProjectOpt = Annotated[Path, typer.Option("--project", help="Folder holding deployer.toml; .deployer/ state goes there.")]


def _version(value: bool) -> None:
    if value:
        from deployer import __version__

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
        sys.stdout.write(json.dumps({"error": str(exc), "exit_code": exc.exit_code}) + "\n")
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
    timeout: Annotated[int, typer.Option(help="Function timeout in whole seconds (1-900), as Lambda enforces it.")] = 30,
    memory: Annotated[int, typer.Option(help="Function memory in MB.")] = 1024,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Execution environments at most (Lambda's reserved concurrency); beyond them requests get 429. Default: the config's reserved_concurrency, else 1.")] = None,
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Serve MODEL on 127.0.0.1 through the Lambda Runtime Interface Emulator until interrupted."""
    from deployer import local, routes

    def ready(url: str) -> None:
        name = routes.model_name(model)
        if as_json:
            _emit_json({"url": url, "model": name, "routes": routes.routes(name)})
            return
        err.print(f"[green]serving[/] {_escape(str(model))} as [bold]{_escape(name)}[/] on [bold]{url}[/] (Ctrl-C to stop)",
                  highlight=False, soft_wrap=True)  # fmt: skip
        body = "'" + routes.example_request(model) + "'"
        for command in (f"curl {url}/v2/models/{name}",
                        f"curl -H 'Content-Type: application/json' -d {body} {url}/v2/models/{name}/infer"):  # fmt: skip
            err.print(f"  {command}", highlight=False, markup=False, soft_wrap=True)

    def run() -> None:
        environments = concurrency if concurrency is not None else _reserved_concurrency(project)
        with _interrupt_stops() as stop:
            local.serve(model, port=port, timeout_s=timeout, memory_mb=memory, ready=ready, concurrency=environments,
                        stop=stop)  # fmt: skip

    _run(as_json, run)


@contextlib.contextmanager
def _interrupt_stops() -> Iterator[threading.Event]:
    """An event Ctrl-C sets; KeyboardInterrupt is raised once the server has stopped cleanly (local.serve
    takes Ctrl-C as a normal stop, and the command must still exit 130)."""
    stop = threading.Event()
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted.is_set():
        raise KeyboardInterrupt


def _reserved_concurrency(project: Path) -> int | None:
    """The config's reserved_concurrency (deployer.toml / [tool.deployer] / ONNX_LAMBDA_*), None when unset."""
    from deployer.config import load_config

    return load_config(project).reserved_concurrency


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
    logs: Annotated[bool, typer.Option(help="Show the function's log and EMF metric lines on stderr.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Invoke MODEL once through the local runtime (emulator + API Gateway emulation) and print the answer."""
    from concurrent.futures import Future

    from deployer import local, routes

    def call() -> Any:
        body = _read_data(data)
        route = path or routes.default_route(routes.model_name(model), body)
        verb = (method or ("POST" if body is not None else "GET")).upper()
        shown = threading.Event()  # the progress line comes first on stderr; the function's lines wait for it

        def output(line: str) -> None:
            if logs:
                shown.wait()
                _log_line(line)

        # metrics=False: nobody can scrape a one-shot endpoint (and its /metrics costs imports)
        with local.LocalEndpoint(model, port=0, output=output, metrics=False) as endpoint:
            # The request goes out first, on a thread: the runtime's init (its own process, ~200 ms)
            # starts with it, and the console of the progress line (rich) is loaded meanwhile.
            answer: Future[Any] = Future()

            def send() -> None:
                try:
                    answer.set_result(endpoint.request(verb, route, body, {"Content-Type": content_type}))
                except BaseException as exc:  # noqa: BLE001 - raised in the main thread, by result()
                    answer.set_exception(exc)

            threading.Thread(target=send, name="invoke-request", daemon=True).start()
            try:
                with progress(err, f"starting the Lambda runtime for {model}"):
                    shown.set()
                    return route, verb, answer.result()  # Ctrl-C here: the endpoint's close ends the request
            finally:
                shown.set()

    route, verb, response = _run(as_json, call)
    payload: Any = _binary_answer(response.headers, response.body)
    if payload is None:
        try:
            payload = response.json()
        except ValueError:
            payload = response.body.decode("utf-8", "replace")
    if as_json:
        _emit_json({"status": response.status, "method": verb, "path": route, "body": payload})
    else:
        style = "green" if response.status < 400 else "red"
        err.print(f"[{style}]{response.status}[/] {verb} {route}", highlight=False)
        _print_answer(payload)
    _exit_when_done.set()  # the runtime is stopped and reaped: nothing is left for the interpreter's teardown
    if response.status >= 400:
        raise typer.Exit(1)


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="Model file: .onnx, .joblib/.pkl/.skops, .pt/.pt2, .keras/.h5, .tflite.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write model.onnx and manifest.json into.")],
    framework: Annotated[str, typer.Option(help="auto (from the file: suffix, then content), onnx, sklearn, torch, keras or tflite.")] = "auto",
    sample: Annotated[
        Path | None, typer.Option(help="Sample inputs for the parity check (.npy, .npz, .json, .csv).")
    ] = None,
    quantize: Annotated[str | None, typer.Option(help="Also quantize: int8 (dynamic), re-checked for parity.")] = None,
    atol: Annotated[float | None, typer.Option(help="Absolute tolerance of the parity check (default per dtype).")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative tolerance of the parity check (default per dtype).")] = None,
    trust_pickle: Annotated[
        bool, typer.Option("--trust-pickle", help="Allow loading pickle/joblib files (they can run code).")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Model name in routes (default: the --out folder's name).")] = None,
    external_data: Annotated[
        bool | None,
        typer.Option("--external-data/--single-file",
                     help="Weights in model.onnx.data, memory-mapped at load (default: for models over 4 MB)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Convert a model to a checked, optimized ONNX artifact (model.onnx + manifest.json)."""
    from deployer.model import convert as run_convert

    def call() -> Any:
        with native_noise_filtered(err), progress(err, f"converting {source}") as update:
            return run_convert(
                source, out=out_dir, framework=framework, sample=sample, quantize=quantize, atol=atol,
                rtol=rtol, trust_pickle=trust_pickle, name=name, external_data=external_data, progress=update,
            )

    result = _run(as_json, call)
    summary = result.summary()
    if as_json:
        _emit_json(summary)
        return
    parity, opt = summary["parity"], summary["optimization"]
    out.print(f"{summary['name']} {summary['version']} → {result.model_path}", highlight=False, markup=False,
              soft_wrap=True)  # a path to copy: never wrapped
    table = _table(title=f"parity on {parity['rows']} {parity['inputs']} rows, {parity['final_stage']} model",
                  title_justify="left")  # fmt: skip
    for column in ("output", "max abs error", "max rel error", "tolerance (atol, rtol)", "argmax agreement"):
        table.add_column(column)
    agreement = parity.get("argmax_agreement") or {}
    for name, abs_error in parity["max_abs_error"].items():
        tol = parity["tolerance"].get(name, {})
        table.add_row(
            name, f"{abs_error:.3g}", f"{parity['max_rel_error'].get(name, 0):.3g}",
            f"{tol.get('atol', 0):.3g}, {tol.get('rtol', 0):.3g}",
            f"{agreement[name]:.1%}" if name in agreement else "-",
        )
    out.print(table)
    if parity.get("label_agreement") is not None:
        out.print(f"label agreement: {parity['label_agreement']:.1%}")
    # timings: in the summary's "measured" (kept out of the artifact), or beside the sizes in older summaries
    measured = summary.get("measured") or {}
    before, after = measured.get("original") or opt["original"], measured.get("artifact") or opt["optimized"]
    timing = (f"session creation {before['session_ms']:.1f} ms → {after['session_ms']:.1f} ms; "
              if "session_ms" in before and "session_ms" in after else "")  # fmt: skip
    out.print(f"{timing}{opt['level']} optimization; size {opt['original']['size_bytes']:,} → "
              f"{opt['optimized']['size_bytes']:,} bytes", highlight=False)  # fmt: skip
    if "run_ms" in before and "run_ms" in after:  # against a default session on the original file
        out.print(f"session.run {before['run_ms']:.4g} ms → {after['run_ms']:.4g} ms "
                  f"({measured['run']['verdict']}; runtime level {opt['runtime_level']}); measurements: "
                  f"{summary['report']}", highlight=False, markup=False, soft_wrap=True)  # fmt: skip
    for warning in measured.get("warnings") or []:
        err.print(f"[yellow]warning:[/] {_escape(warning)}", highlight=False, soft_wrap=True)
    for note in summary["notes"]:
        err.print(f"[yellow]note:[/] {_escape(note)}", highlight=False, soft_wrap=True)


@app.command()
def template(
    model_dir: Annotated[Path, typer.Argument(help="The model folder (model.onnx + manifest.json).")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the SAM template.")] = Path("template.yaml"),
    project: Annotated[Path, typer.Option(help="Folder holding deployer.toml or pyproject.toml.")] = Path("."),
    stack_name: Annotated[str | None, typer.Option(help="CloudFormation stack name.")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region.")] = None,
    memory: Annotated[int | None, typer.Option(help="Function memory in MB.")] = None,
    timeout: Annotated[int | None, typer.Option(help="Function timeout in seconds.")] = None,
    arch: Annotated[str | None, typer.Option(help="x86_64 or arm64.")] = None,
    auth: Annotated[str | None, typer.Option(help="iam (default), api_key or none.")] = None,
    allow_unauthenticated: Annotated[
        bool | None, typer.Option("--allow-unauthenticated", help="Required with --auth none.")
    ] = None,
    check: Annotated[bool, typer.Option(help="Translate with aws-sam-translator and lint with cfn-lint.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Write the SAM template of a model: function, API, auth, canary deploy, alarms, dashboard."""
    from deployer.config import load_config
    from deployer.template import write_template

    overrides = {
        "stack_name": stack_name, "region": region, "memory_mb": memory, "timeout_s": timeout,
        "architecture": arch, "api.auth": auth, "api.allow_unauthenticated": allow_unauthenticated,
    }

    def call() -> Any:
        config = load_config(project, overrides)
        with progress(err, "generating, translating and linting the template"):
            return write_template(model_dir, out_file, config, check=check)

    report = _run(as_json, call)
    summary = report.summary()
    if as_json:
        _emit_json(summary)
    else:
        for warning in summary["warnings"]:
            err.print(f"[yellow]warning:[/] {warning}", highlight=False)
        table = _table(title=f"{summary['template']} ({summary['stack_name']}, {summary['region']})", title_justify="left")
        table.add_column("resource type")
        table.add_column("count", justify="right")
        for kind, count in summary["translated_types"].items():
            table.add_row(kind, str(count))
        out.print(table)
        for finding in summary["findings"]:
            err.print(finding, highlight=False, markup=False)
        state = "[green]ok[/]" if summary["ok"] else f"[red]{summary['errors']} error(s)[/]"
        err.print(f"{state}: {summary['resources']} resources, {summary['translated_resources']} after translation")
    if not summary["ok"]:
        raise typer.Exit(1)


# The image options of `build`, shared by `push` and `plan` (which build the same image).
ArchOpt = Annotated[str | None, typer.Option("--arch", help="x86_64 or arm64 (default: the config's architecture).")]
BaseImageOpt = Annotated[str | None, typer.Option("--base-image", help="Base image to build on (default: the config's image.base, the AWS Lambda Python base image; push and plan first take the base of the image build made for this model and architecture).")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Build without Docker's layer cache.")]


@app.command()
def build(
    model_dir: Annotated[Path, typer.Argument(help="The model folder (model.onnx + manifest.json).")],
    arch: ArchOpt = None,
    base_image: BaseImageOpt = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Build context folder (default build/<name>-<arch>).")] = None,
    project: Annotated[Path, typer.Option(help="Folder holding deployer.toml or pyproject.toml.")] = Path("."),
    no_cache: NoCacheOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the Lambda container image: dependency, model and code layers, reproducible digests."""
    from deployer.config import load_config
    from deployer.image import build as build_image

    def call() -> Any:
        config = load_config(project, {"architecture": arch, "image.base": base_image})
        with progress(err, "building the image") as update:
            return build_image(model_dir, arch=arch, base_image=base_image, config=config, out_dir=out_dir,
                               no_cache=no_cache, progress=update)

    result = _run(as_json, call)
    summary = result.summary()
    if as_json:
        _emit_json(summary)
        return
    table = _table(title=f"{summary['image']}  {summary['size_bytes'] / 1e6:.1f} MB", title_justify="left")
    for column in ("layer", "digest", "size", "holds"):
        table.add_column(column)
    layers = summary["layer_details"]
    base = [layer for layer in layers if layer["role"] == "base"]
    if base:
        size = sum(layer["size_bytes"] for layer in base)
        table.add_row("base", f"{len(base)} layers", f"{size / 1e6:.1f} MB", str(base[0]["holds"]).split(":")[0][:60])
    for layer in layers[len(base):]:
        holds = str(layer["holds"])
        table.add_row(layer["role"], layer["digest"][:19], f"{layer['size_bytes'] / 1e6:.1f} MB",
                      holds if len(holds) <= 60 else holds[:57] + "...")
    out.print(table)
    for note in summary.get("notes", []):
        err.print(f"[yellow]note:[/] {note}", highlight=False)


# KServe v2 binary tensor extension: little-endian element types of the raw output tails.
_BINARY_DTYPES = {
    "BOOL": "?", "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "UINT8": "<u1", "UINT16": "<u2",
    "UINT32": "<u4", "UINT64": "<u8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
}


def _binary_answer(headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
    """A KServe v2 binary answer (`Inference-Header-Content-Length`: a JSON header, then each binary
    output's raw bytes in order) as the JSON answer it stands for: each binary output gets its `data`,
    decoded by datatype (BYTES: 4-byte little-endian length + bytes per element, shown as text when
    UTF-8, else as {"b64": ...}). None when the answer is not binary or does not parse as one."""
    length = headers.get("inference-header-content-length")
    if length is None:
        return None
    import base64

    import numpy as np  # here, past the check: a JSON answer must not pay numpy's ~60 ms import

    try:
        size = int(length)
        doc = json.loads(body[:size])
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("outputs"), list):
        return None
    offset = size
    for output in doc["outputs"]:
        params = output.get("parameters") if isinstance(output, dict) else None
        raw_size = params.get("binary_data_size") if isinstance(params, dict) else None
        if not isinstance(raw_size, int) or offset + raw_size > len(body):
            continue
        raw = body[offset : offset + raw_size]
        offset += raw_size
        datatype = output.get("datatype")
        if datatype == "BYTES":
            items: list[Any] = []
            pos = 0
            while pos + 4 <= len(raw):
                n = int.from_bytes(raw[pos : pos + 4], "little")
                item = raw[pos + 4 : pos + 4 + n]
                pos += 4 + n
                try:
                    items.append(item.decode("utf-8"))
                except UnicodeDecodeError:
                    items.append({"b64": base64.b64encode(item).decode()})
            output["data"] = items
        elif datatype in _BINARY_DTYPES and len(raw) % np.dtype(_BINARY_DTYPES[datatype]).itemsize == 0:
            output["data"] = np.frombuffer(raw, dtype=_BINARY_DTYPES[datatype]).tolist()
    return doc


def _log_line(line: str) -> None:
    err.print(line.rstrip(), style="dim", highlight=False, markup=False, soft_wrap=True)


def _print_answer(payload: Any) -> None:
    """A v2 inference answer as a table of outputs; anything else as JSON."""
    outputs = payload.get("outputs") if isinstance(payload, dict) else None
    if isinstance(outputs, list) and all(isinstance(o, dict) and "data" in o for o in outputs):
        table = _table(title=f"{payload.get('model_name')} {payload.get('model_version')}", title_justify="left")
        for column in ("output", "datatype", "shape", "data"):
            table.add_column(column)
        for o in outputs:
            data = json.dumps(o["data"])
            table.add_row(o["name"], o["datatype"], str(o["shape"]), data if len(data) <= 120 else data[:117] + "...")
        out.print(table)
    elif isinstance(payload, (dict, list)):
        out.print_json(data=payload)
    else:
        out.print(payload, highlight=False, markup=False)


# Set by a command whose work is all done and cleaned up (its child processes stopped and reaped,
# no temporary file left): `main` then ends the process at once, once stdout and stderr are flushed.
# The interpreter's own teardown (module and thread finalization of typer, rich, http and the local
# runtime's modules) cost `invoke` 45-85 ms, 7-10% of its time (measured side by side, the same
# command with and without). Only `main` does it: an `app` called in-process (CliRunner, an
# embedding program) returns as usual.
_exit_when_done = threading.Event()


def main() -> None:
    try:
        app()
    except SystemExit as exc:
        if not _exit_when_done.is_set():
            raise
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said; the code still counts
            code = code or 1
        os._exit(code)


# --------------------------------------------------------------------------- deploy: push, plan, status, rollback, delete
# One section, one engine entry each (deployer.deploy.api). Progress goes to stderr; `--json`
# prints one object on stdout.

ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS profile (boto3's; else AWS_PROFILE or the default chain).")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region (else the config, AWS_REGION, the profile's).")]
StackOpt = Annotated[str | None, typer.Option("--stack-name", help="CloudFormation stack (default: onnx-<model name>).")]
TargetOpt = Annotated[str, typer.Option("--target", help="aws, local, or auto: aws when credentials, a profile or AWS_ENDPOINT_URL are set, else the project's local cloud.")]
ModelArg = Annotated[Path, typer.Argument(help="A converted model folder (model.onnx + manifest.json) or a model file.")]


class _DeployProgress:
    """Steps, notes and CloudFormation events of the engine, on stderr."""

    def step(self, index: int, total: int, title: str) -> None:
        err.print(f"[bold cyan][{index}/{total}][/] {title}", highlight=False)

    def info(self, text: str) -> None:
        err.print(f"  {text}", highlight=False, markup=False, soft_wrap=True)

    def warn(self, text: str) -> None:
        err.print("  [yellow]![/] " + _escape(text), highlight=False, soft_wrap=True)

    def event(self, event: Any) -> None:
        if event.status.endswith("_IN_PROGRESS") and event.resource_type != "AWS::CloudFormation::Stack":
            return  # one line per resource: how it ended
        style = "red" if event.failed else ("green" if event.status.endswith("_COMPLETE") else "dim")
        reason = f": {event.reason}" if event.reason else ""
        err.print(f"    [{style}]{_escape(event.status)}[/] {_escape(event.logical_id)} ({_escape(event.resource_type)}){_escape(reason)}",
                  highlight=False, soft_wrap=True)  # fmt: skip


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _deploy_options(model: Path, **fields: Any) -> Any:
    from deployer.deploy import PushOptions

    return PushOptions(model=model, **fields)


def _print_endpoint(summary: dict[str, Any], model: str) -> None:
    url = summary.get("url") or ""
    smoke = summary.get("smoke_test", {})
    style = {"passed": "green", "failed": "red"}.get(smoke.get("status"), "yellow")
    err.print(f"[bold cyan][8/8][/] endpoint", highlight=False)
    for note in summary.get("notes", []):
        err.print(f"  [dim]{_escape(note)}[/]", highlight=False, soft_wrap=True)
    state = "changed" if summary.get("changed") else "no changes"
    out.print(
        f"[bold]{_escape(summary.get('stack', ''))}[/] {_escape(summary.get('status', ''))} ({state}; "
        f"{summary.get('uploaded_bytes', 0):,} layer bytes uploaded) on the {summary.get('target')} target",
        highlight=False, soft_wrap=True,
    )  # fmt: skip
    out.print(f"image   {summary.get('image_uri')}", highlight=False, markup=False, soft_wrap=True)
    version = summary.get("function_version") or "-"
    out.print(f"version {version}" + (f" (alias {summary['alias']})" if summary.get("alias") else ""), highlight=False)
    out.print(f"smoke   [{style}]{smoke.get('status')}[/]: {_escape(smoke.get('reason', ''))}", highlight=False, soft_wrap=True)
    if not url:
        return
    out.print(f"url     {url}", highlight=False, markup=False, soft_wrap=True)
    infer = f"{url.rstrip('/')}/v2/models/{model}/infer"
    from deployer.routes import example_request

    body = "'" + example_request(Path(summary.get("model_folder") or ".")) + "'"
    if summary.get("target") == "local":
        out.print(f"  curl -H 'Content-Type: application/json' -d {body} {infer}", highlight=False, markup=False, soft_wrap=True)
    else:
        out.print(f"  awscurl --service execute-api -X POST -d {body} {infer}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def push(
    model: ModelArg = Path("."),
    target: Annotated[str, typer.Option(help="aws, local, or auto: aws when credentials, a profile or AWS_ENDPOINT_URL are set, else the project's local cloud.")] = "auto",
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackOpt = None,
    image: Annotated[str | None, typer.Option("--image", help="Push this local Docker image instead of building one.")] = None,
    builder: Annotated[str, typer.Option(help="auto | image (the function image) | files (model + code layers; local target and emulators).")] = "auto",
    arch: ArchOpt = None,
    base_image: BaseImageOpt = None,
    no_cache: NoCacheOpt = False,
    project: ProjectOpt = Path("."),
    serve: Annotated[bool, typer.Option("--serve/--no-serve", hidden=True, help="Kept for old scripts: the local cloud serves in the background either way.")] = True,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow converting pickle/joblib files.")] = False,
    golden: Annotated[Path | None, typer.Option("--golden", help="Golden set (JSON: inputs, expected outputs and tolerances, or \"compare\": \"live\") checked before any traffic reaches the new version (default: the manifest's sample).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Deploy MODEL: image to ECR, CloudFormation change set, smoke test, URL. Without AWS credentials: the local cloud."""
    from deployer.deploy import run_push

    options = _deploy_options(model, project=project, target=target, profile=profile, region=region,
                              stack_name=stack_name, image=image, builder=builder, serve=serve, trust_pickle=trust_pickle,
                              golden=golden, arch=arch, base_image=base_image, no_cache=no_cache)  # fmt: skip
    result = _run(as_json, lambda: run_push(options, _DeployProgress()))
    summary = result.summary()
    if as_json:
        _emit_json(summary)
    else:
        _print_endpoint(summary, result.model)
    if summary["smoke_test"]["status"] == "failed":
        raise typer.Exit(1)


@app.command()
def plan(
    model: ModelArg = Path("."),
    target: Annotated[str, typer.Option(help="aws, local, or auto (as push): where the stack to compare with is deployed.")] = "auto",
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackOpt = None,
    image: Annotated[str | None, typer.Option("--image", help="Plan the push of this local Docker image.")] = None,
    builder: Annotated[str, typer.Option(help="auto | image | files (as push).")] = "auto",
    arch: ArchOpt = None,
    base_image: BaseImageOpt = None,
    no_cache: NoCacheOpt = False,
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Show what push would change (image digest, blobs to upload, resources added/modified/removed); change nothing."""
    from deployer.deploy import run_plan

    options = _deploy_options(model, project=project, target=target, profile=profile, region=region,
                              stack_name=stack_name, image=image, builder=builder, arch=arch, base_image=base_image,
                              no_cache=no_cache)  # fmt: skip
    result = _run(as_json, lambda: run_plan(options, _DeployProgress()))
    summary = result.summary()
    if as_json:
        _emit_json(summary)
        return
    out.print(f"[bold]{summary['stack']}[/] ({summary['status'] or 'not deployed'}): image {summary['image_digest'][:19]}, "
              f"{summary['upload_bytes']:,} layer bytes to upload", highlight=False)  # fmt: skip
    table = _table(title="resources", title_justify="left")
    table.add_column("change")
    table.add_column("resource")
    for kind, items in (summary["changes"] or {}).items():
        for item in items:
            table.add_row(kind, item)
    out.print(table)
    for note in summary["notes"]:
        err.print(f"[yellow]note:[/] {_escape(note)}", highlight=False)
    out.print("push would change this" if summary["changed"] else "no changes", highlight=False)


@app.command()
def status(
    model: Annotated[Path, typer.Argument(help="The model folder the stack was pushed from (or --stack-name).")] = Path("."),
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackOpt = None,
    project: ProjectOpt = Path("."),
    target: TargetOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """What runs now, read from the live function and alias: versions and weights, images, models, URL."""
    from deployer.deploy import run_status

    options = _deploy_options(model, project=project, target=target, profile=profile, region=region, stack_name=stack_name)
    summary = _run(as_json, lambda: run_status(options))
    if as_json:
        _emit_json(summary)
        return
    table = _table(title=f"{summary['stack']} ({summary['region']}, {summary['target']} target)", title_justify="left",
                  show_header=False)  # fmt: skip
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key in ("status", "reason", "updated", "alias", "function_version", "model", "model_version"):
        if summary.get(key):
            table.add_row(key, str(summary[key]))
    table.add_row("versions", ", ".join(summary["versions"]) or "-")
    out.print(table)
    for key, label in (("image_uri", "image"), ("url", "url")):  # to copy: plain lines, never folded or cut
        if summary.get(key):
            out.print(f"{label:<7} {summary[key]}", highlight=False, markup=False, soft_wrap=True)
    if summary.get("routing"):
        routing = _table(title=f"alias {summary.get('alias')}: traffic", title_justify="left")
        for column in ("version", "share", "image", "model", "model version"):
            routing.add_column(column, overflow="fold")
        for entry in summary["routing"]:
            routing.add_row(entry["version"], f"{entry['weight']:.0%}", str(entry.get("image_digest") or entry.get("image_uri", ""))[:19],
                            str(entry.get("model", "")), str(entry.get("model_version", "")))  # fmt: skip
        out.print(routing)


@app.command()
def rollback(
    model: Annotated[Path, typer.Argument(help="The model folder the stack was pushed from (or --stack-name).")] = Path("."),
    to_version: Annotated[str | None, typer.Option("--to-version", help="Version to move the alias to (default: the previous one).")] = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackOpt = None,
    project: ProjectOpt = Path("."),
    target: TargetOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Move the function's alias back to the previous published version."""
    from deployer.deploy import run_rollback

    options = _deploy_options(model, project=project, target=target, profile=profile, region=region, stack_name=stack_name)
    summary = _run(as_json, lambda: run_rollback(options, to_version=to_version))
    if as_json:
        _emit_json(summary)
        return
    word = "moved" if summary["changed"] else "already at"
    out.print(f"alias {summary['alias']} of {summary['stack']}: {word} version {summary['to']} (was {summary['from']})", highlight=False)
    if summary.get("note"):
        err.print(f"[yellow]note:[/] {_escape(summary['note'])}", highlight=False)


@app.command()
def delete(
    model: Annotated[Path, typer.Argument(help="The model folder the stack was pushed from (or --stack-name).")] = Path("."),
    images: Annotated[bool, typer.Option("--images", help="Also delete the ECR repository and its images.")] = False,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackOpt = None,
    project: ProjectOpt = Path("."),
    target: TargetOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Delete the stack (images are kept unless --images)."""
    from deployer.deploy import run_delete

    options = _deploy_options(model, project=project, target=target, profile=profile, region=region, stack_name=stack_name)
    summary = _run(as_json, lambda: run_delete(options, _DeployProgress(), images=images))
    if as_json:
        _emit_json(summary)
        return
    kept = "deleted" if summary["images_deleted"] else "kept"
    repo = f"; images in {summary['repository']} {kept}" if summary.get("repository") else ""
    out.print(f"stack {summary['stack']} deleted{repo}", highlight=False)


# --------------------------------------------------------------------------- monitor: metrics, logs
# deployer.monitor reads CloudWatch (AWS, or the local cloud's) for a deployed stack.


def _monitor_options(model: Path, **fields: Any) -> Any:
    from deployer.monitor import MonitorOptions

    return MonitorOptions(model=model, **fields)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def _latency(latency: dict[str, float | None]) -> str:
    return " / ".join(_ms(latency[p]) for p in ("p50", "p95", "p99"))


def _print_metrics(doc: dict[str, Any]) -> None:
    out.print(f"[bold]{_escape(doc['stack'])}[/] ({_escape(doc['model'])}) on the {doc['target']} target, "
              f"{doc['start']} to {doc['end']}, {doc['period_s'] // 60} min periods", highlight=False)  # fmt: skip
    for version in doc["versions"]:
        model_version = f" (model {version['model_version']})" if version.get("model_version") else ""
        title = version["version"] if version["version"].startswith("model ") else f"version {version['version']}"
        table = _table(title=f"{title}{model_version}", title_justify="left", show_header=False)
        table.add_column("measure", style="bold")
        table.add_column("value")
        table.add_row("invocations", f"{version['invocations']:,} ({version['errors']:,} errors, "
                                     f"{version['throttles']:,} throttled)")  # fmt: skip
        table.add_row("duration ms p50 / p95 / p99", _latency(version["duration_ms"]))
        table.add_row("handler requests", f"{version['requests']:,} ({version['handler_errors']:,} errors)")
        table.add_row("request ms p50 / p95 / p99", _latency(version["request_ms"]))
        table.add_row("inference ms p50 / p95 / p99", _latency(version["inference_ms"]))
        kinds = ", ".join(f"{kind} {count:,}" for kind, count in version["errors_by_kind"].items())
        table.add_row("errors by kind", kinds or "-")
        load = version["model_load_ms"]
        loads = f" (model load {_ms(load['avg'])} ms mean, {_ms(load['max'])} ms max)" if version["cold_starts"] else ""
        table.add_row("cold starts", f"{version['cold_starts']:,}{loads}")
        for name, value in version["other"].items():
            table.add_row(name + " (mean)", _ms(value))
        out.print(table)
        if version["drift"]:
            drift = _table(title=f"{title}: drift, worst first", title_justify="left")
            for column in ("metric", "feature", "mean", "max"):
                drift.add_column(column)
            for item in version["drift"]:
                dims = ", ".join(f"{k}={v}" for k, v in item["dims"].items())
                drift.add_row(item["metric"], dims or "-", _ms(item["mean"]), _ms(item["max"]))
            out.print(drift)


@app.command()
def metrics(
    model: Annotated[Path, typer.Argument(help="The model folder the stack was pushed from (or --stack-name).")] = Path("."),
    since: Annotated[str, typer.Option("--since", help="Window start: a duration back (90s, 10m, 1h, 2d) or an ISO time.")] = "1h",
    period: Annotated[str, typer.Option("--period", help="One datapoint of the series: whole minutes (1m, 5m, 1h).")] = "1m",
    plot: Annotated[Path | None, typer.Option("--plot", help="Also draw the series into FILE.png (one panel per measure, versions in colour).")] = None,
    tensorboard: Annotated[Path | None, typer.Option("--tensorboard", help="Also write TensorBoard event files into DIR, one run per version.")] = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackOpt = None,
    project: ProjectOpt = Path("."),
    target: TargetOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Invocations, latency percentiles, errors by kind, cold starts and drift per version, from CloudWatch."""
    from deployer.monitor import MetricsRequest, run_metrics

    options = _monitor_options(model, project=project, target=target, profile=profile, region=region, stack_name=stack_name)
    request = MetricsRequest(since=since, period=period, plot=plot, tensorboard=tensorboard)
    doc = _run(as_json, lambda: run_metrics(options, request)).as_dict()
    for note in doc["notes"]:
        err.print(f"[yellow]note:[/] {_escape(note)}", highlight=False, soft_wrap=True)
    if plot is not None:
        err.print(f"plot written to {plot}", highlight=False, markup=False)
    if tensorboard is not None:
        err.print(f"TensorBoard runs written under {tensorboard} (tensorboard --logdir {tensorboard})", highlight=False,
                  markup=False)  # fmt: skip
    if as_json:
        _emit_json(doc)
        return
    _print_metrics(doc)


def _log_row(table: "Table", line: Any) -> None:
    style = {"ERROR": "red", "CRITICAL": "red", "WARNING": "yellow", "REPORT": "cyan", "METRIC": "dim"}.get(line.level or "", "")
    fields = ", ".join(f"{k}={v}" for k, v in line.fields.items()) if line.kind in ("json", "emf") else ""
    table.add_row(line.at.strftime("%H:%M:%S.%f")[:-3], line.version or "-", f"[{style}]{_escape(line.level or line.kind)}[/]" if style else _escape(line.level or line.kind),
                  _escape(line.text), _escape(line.request_id or ""), _escape(fields))  # fmt: skip


def _log_table(title: str) -> "Table":
    table = _table(title=title, title_justify="left")
    for column in ("time (UTC)", "version", "level", "message", "request id", "fields"):
        table.add_column(column, overflow="fold")
    return table


@app.command()
def logs(
    model: Annotated[Path, typer.Argument(help="The model folder the stack was pushed from (or --stack-name).")] = Path("."),
    since: Annotated[str, typer.Option("--since", help="From: a duration back (90s, 10m, 1h) or an ISO time.")] = "10m",
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep polling for new lines until Ctrl-C.")] = False,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Only this invocation's lines (Lambda's request id, as in REPORT lines).")] = None,
    emf: Annotated[bool, typer.Option("--emf", help="Also show the EMF metric lines.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Also show START and END lines (REPORT summarizes them).")] = False,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    stack_name: StackOpt = None,
    project: ProjectOpt = Path("."),
    target: TargetOpt = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per log line on stdout (JSON Lines).")] = False,
) -> None:
    """The function's log lines from CloudWatch Logs as a table: structured lines, REPORT summaries, EMF on request."""
    from deployer.monitor import LogsRequest, follow_logs, run_logs

    options = _monitor_options(model, project=project, target=target, profile=profile, region=region, stack_name=stack_name)
    request = LogsRequest(since=since, request_id=request_id, emf=emf, raw=raw)
    if follow:
        def show(line: Any) -> None:
            if as_json:
                _emit_json(line.as_dict())
            else:
                table = _log_table("")
                table.show_header = False
                _log_row(table, line)
                out.print(table)

        err.print("following the function's log (Ctrl-C stops)", highlight=False)
        _run(as_json, lambda: follow_logs(options, request, show))  # Ctrl-C: the App exits 130
        return
    result = _run(as_json, lambda: run_logs(options, request))
    if as_json:
        for line in result.lines:
            _emit_json(line.as_dict())
        return
    if not result.lines:
        err.print(f"no log lines in {result.log_group} since {result.start:%Y-%m-%d %H:%M:%S} UTC", highlight=False)
        return
    table = _log_table(f"{result.log_group} ({result.target} target) since {result.start:%Y-%m-%d %H:%M:%S} UTC")
    for line in result.lines:
        _log_row(table, line)
    out.print(table)


# --------------------------------------------------------------------------- local: the project's local cloud

local_app = App(name="local", help="The project's local cloud: AWS (emulated) and every pushed stack, on 127.0.0.1.",
              no_args_is_help=True)  # fmt: skip
app.add_typer(local_app)


@local_app.command("up")
def local_up(
    project: ProjectOpt = Path("."),
    port: Annotated[int, typer.Option("--port", help="Port of its AWS endpoint (0: a free one).")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Start the local cloud in the background (every command that needs it starts it too)."""
    from deployer.errors import LocalRuntimeError
    from deployer.local.cloud import client

    def up() -> Any:
        found = client.running(project)
        if found is not None:
            raise LocalRuntimeError(f"a local cloud already runs for {project.resolve()} (pid {found.pid}, AWS endpoint "
                                    f"{found.emulator_url}); `python -m deployer local down` stops it")  # fmt: skip
        if port:
            _check_port_free(port)
        return client.start(project, port=port)

    info = _run(as_json, up)
    summary = {"pid": info.pid, "emulator_url": info.emulator_url, "control_url": info.control_url, "state": str(info.state)}
    if as_json:
        _emit_json(summary)
        return
    out.print(f"local cloud up (pid {info.pid}): AWS endpoint {info.emulator_url}; state in {info.state}", highlight=False)


@local_app.command("down")
def local_down(project: ProjectOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Stop the local cloud; its state stays under .deployer/ and comes back with `local up`."""
    from deployer.local.cloud import client

    stopped = _run(as_json, lambda: client.stop(project))
    if as_json:
        _emit_json({"stopped": stopped})
        return
    out.print("local cloud stopped" if stopped else "no local cloud runs for this project", highlight=False)


@local_app.command("status")
def local_status(project: ProjectOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Stacks of the local cloud: URLs, alias → versions and their share of traffic, images, models."""
    from deployer.local.cloud import client

    def read() -> dict[str, Any]:
        info = client.running(project)
        return {"running": False, "stacks": []} if info is None else {"running": True, **client.status(info)}

    doc = _run(as_json, read)
    if as_json:
        _emit_json(doc)
        return
    if not doc["running"]:
        out.print("no local cloud runs for this project (`python -m deployer local up`, or any push, starts it)")
        return
    out.print(f"local cloud (pid {doc['pid']}): AWS endpoint {doc['emulator_url']}", highlight=False)
    for stack in doc["stacks"]:  # URLs to copy: plain lines, never folded or cut
        out.print(f"{stack['stack']}  {stack['url'] or '-'}", highlight=False, markup=False, soft_wrap=True)
    table = _table(title="stacks", title_justify="left")
    for column in ("stack", "version", "share", "model", "model version", "image"):
        table.add_column(column, overflow="fold")
    for stack in doc["stacks"]:
        for entry in stack["versions"]:
            table.add_row(stack["stack"], entry["version"], f"{entry['weight']:.0%}", str(entry.get("model", "")),
                          str(entry.get("model_version", "")), str(entry.get("image_digest", ""))[:19])  # fmt: skip
    out.print(table)


def _check_port_free(port: int) -> None:
    import errno
    import socket

    from deployer.errors import ConfigError

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on 127.0.0.1 is already in use; choose another --port, or leave it "
                                  "out for a free one") from exc
            raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
