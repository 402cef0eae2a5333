"""A function image for `sam local invoke`, built by the bench when none is given.

Until the deployer builds function images, the bench makes its own, the way an image of this
project is laid out: the stand-in Lambda Python base image (infra/standin-base, found by its
``onnx-lambda.standin.python`` label), the handler's run-time wheels for that Python unpacked
into ``/var/task``, ``functions/`` beside them, the bench model at ``/opt/model`` and
``CMD ["functions.app.handler"]``. Wheels are the venv's own versions, fetched once with
``pip download`` into ``bench/.models/wheels-<tag>/`` (git-ignored). ``docker build`` runs with
``--network none``.

RESULTS.md labels this column "bench-built image": it is not the deployer's image.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

__all__ = ["find_base_image", "build_function_image"]

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LABEL = "onnx-lambda.standin.python"
# What functions/ imports at run time (the `runtime` extra), and their run-time dependencies.
# onnxruntime's declared dependencies (flatbuffers, packaging, protobuf) are not imported when
# running a session, and boto3/botocore are optional for Powertools.
RUNTIME = ("onnxruntime", "numpy", "orjson", "aws-lambda-powertools", "jmespath",
           "typing-extensions")


def find_base_image() -> tuple[str | None, str]:
    """(the stand-in base image, its Python version) or (None, reason).

    The tag is what `infra/standin-base/build` prints last (it builds the image once, then
    answers from its cache); without the script, the newest image carrying the label. The label
    alone is not enough: every image built FROM the base inherits it (a test's "churn:..." image
    was picked once).
    """
    script = REPO_ROOT / "infra" / "standin-base" / "build"
    if script.exists():
        b = subprocess.run([str(script)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=1800)
        lines = b.stdout.strip().splitlines()
        if b.returncode == 0 and lines:
            image = lines[-1].strip()
            q = subprocess.run(["docker", "image", "inspect", image, "--format",
                                "{{index .Config.Labels \"" + LABEL + "\"}}"], capture_output=True, text=True)
            if q.returncode == 0:
                return image, q.stdout.strip()
    p = subprocess.run(["docker", "images", "--filter", f"label={LABEL}", "--format",
                        "{{.Repository}}:{{.Tag}}\t{{.CreatedAt}}"], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()[-300:]
    rows = [line.split("\t") for line in p.stdout.splitlines() if line.strip()]
    # images built on top of the base inherit its label: the bench's own, and SAM's "rapid" ones
    rows = [r for r in rows if not r[0].startswith("onnx-lambda-bench/")
            and ":rapid-" not in r[0] and not r[0].startswith("samcli/")]
    if not rows:
        return None, (f"no stand-in base image (label {LABEL}) in the local Docker store; "
                      "build it from infra/standin-base")
    rows.sort(key=lambda r: r[1], reverse=True)
    image = rows[0][0]
    q = subprocess.run(["docker", "image", "inspect", image, "--format",
                        "{{index .Config.Labels \"" + LABEL + "\"}}"], capture_output=True, text=True)
    return image, q.stdout.strip()


def _wheels(py: str, log) -> Path:
    tag = "cp" + py.replace(".", "")
    dest = BENCH_DIR / ".models" / f"wheels-{tag}-x86_64"
    pins = [f"{name}=={metadata.version(name)}" for name in RUNTIME]
    stamp = dest / "pins.txt"
    if stamp.exists() and stamp.read_text() == "\n".join(pins):
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    log(f"  pip download {len(pins)} wheels for CPython {py} ...")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", py, "--implementation", "cp",
                    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                    "--platform", "manylinux2014_x86_64", "--platform", "any",
                    "--dest", str(dest), *pins], check=True, capture_output=True)
    stamp.write_text("\n".join(pins))
    return dest


def _tree_hash(*roots: Path) -> str:
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:12]


def build_function_image(base: str, py: str, model: str, folder: Path,
                         log=print) -> tuple[str | None, str]:
    """Build (or reuse) the bench's function image for `folder`; (tag, "") or (None, why)."""
    wheels = _wheels(py, log)
    base_id = subprocess.run(["docker", "image", "inspect", base, "--format", "{{.Id}}"],
                             capture_output=True, text=True).stdout.strip()
    digest = hashlib.sha256((base_id + _tree_hash(REPO_ROOT / "functions", folder, wheels)).encode())
    tag = f"onnx-lambda-bench/{model}:{digest.hexdigest()[:12]}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag, ""
    with tempfile.TemporaryDirectory(prefix="bench-img-") as tmp:
        ctx = Path(tmp)
        task = ctx / "task"
        task.mkdir()
        for whl in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(whl) as zf:
                zf.extractall(task)
        shutil.copytree(REPO_ROOT / "functions", task / "functions",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(folder, ctx / "model")
        (ctx / "Dockerfile").write_text(
            f"FROM {base}\n"
            "COPY task/ /var/task/\n"
            "COPY model/ /opt/model/\n"
            "ENV MODEL_PATH=/opt/model\n"
            # byte-code compiled at build time, as an image should ship it
            "RUN [\"/var/lang/bin/python3\", \"-m\", \"compileall\", \"-q\", \"/var/task\"]\n"
            "CMD [\"functions.app.handler\"]\n")
        log(f"  docker build {tag} (FROM {base}) ...")
        p = subprocess.run(["docker", "build", "--network", "none", "-q", "-t", tag, str(ctx)],
                           capture_output=True, timeout=900)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace")[-600:]
    _prune(model, keep=tag)
    return tag, ""


def _prune(model: str, keep: str) -> None:
    """Remove the bench's older images of this model (only the bench's own repository)."""
    p = subprocess.run(["docker", "images", f"onnx-lambda-bench/{model}", "--format",
                        "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True)
    old = [t for t in p.stdout.split() if t != keep and t.startswith("onnx-lambda-bench/")]
    if old:
        subprocess.run(["docker", "rmi", *old], capture_output=True)


if __name__ == "__main__":
    from bench.models import ensure_models

    base, py = find_base_image()
    print(base, py)
    if base:
        for name, ms in ensure_models().items():
            print(build_function_image(base, py, name, ms.optimized))
    print(json.dumps({"ok": bool(base)}))
