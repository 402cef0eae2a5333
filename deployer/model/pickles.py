"""Is this file pickle-based? Decided from its bytes, before any loader sees it.

A pickle runs code while it is loaded (a `__reduce__` naming `os.system` is enough), so the
decision cannot rest on the file's name or on `--framework`: a pickle saved as `model.bin`,
`.dat` or `.onnx` is still a pickle. `pickle_evidence(path)` reads the file with the standard
library's `pickletools` (which parses opcodes and never executes them) and `zipfile`, and says
what it found, or None:

    raw stream        the PROTO opcode (protocols 2-5, what pickle, joblib and torch write);
                      or a protocol 0/1 stream that reaches an opcode able to run code
                      (GLOBAL, INST, OBJ, REDUCE, ...) from a plausible first opcode
    compressed        gzip, zlib, bz2, xz/lzma, lz4 frames (joblib's `compress=`) and joblib's old
                      "ZF" header, when the decompressed head is a pickle as above
    zip archive       a member that is a pickle (`*.pkl`, a PROTO head, or a nested zip holding
                      one), as torch.save and torch.export archives are; a member counts as
                      harmless data only when every global it names is one of the tensor-rebuild
                      functions, storage classes and containers that `torch.load(weights_only=True)`
                      allows, so a state dict or a torch.export archive's weights and sample
                      inputs pass while a whole pickled nn.Module (whose classes are imported and
                      called) does not
    TorchScript       a zip with `code/` and `constants.pkl` is read by torch.jit's own restricted
                      unpickler, which imports no Python: not counted as a pickle

Reads are bounded (`_SCAN_BYTES` of a stream, `_MAX_MEMBERS` zip members, nesting depth 2), so
a hostile file cannot make the check itself slow or large.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickletools
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["pickle_evidence", "SAFE_GLOBALS"]

_SCAN_BYTES = 8 * 1024 * 1024  # of one pickle stream: the globals of a model pickle come first
_MAX_MEMBERS = 4096
_MAX_DEPTH = 2

# What torch.load(weights_only=True) unpickles by default: tensors, storages, plain containers.
_STORAGES = ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
             "ComplexFloat", "ComplexDouble")
SAFE_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("collections", "OrderedDict"), ("torch", "Size"), ("torch", "device"), ("torch", "dtype")}
    | {("torch._utils", name) for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter",
                                           "_rebuild_parameter_with_state")}
    | {("torch", f"{kind}Storage") for kind in _STORAGES}
    | {("torch", dtype) for dtype in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16",
                                      "int8", "uint8", "bool", "complex64", "complex128")}
)

# Opcodes that import or call something: the ones that can run code while loading.
_CODE_OPS = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD",
                       "EXT1", "EXT2", "EXT4"})
# How protocol 0/1 pickles begin (MARK, GLOBAL, INST, an empty container, a string or a number).
_PROTO01_FIRST = frozenset(b"(c}])SVIFLNi")
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
                         "SHORT_BINSTRING"})


def pickle_evidence(path: Path) -> str | None:
    """What makes `path` pickle-based ("a pickle stream naming os.system", ...), or None."""
    with open(path, "rb") as fh:
        head = fh.read(_SCAN_BYTES)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(path) as archive:
                return _zip_evidence(archive, 0)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            return f"a damaged zip archive that may hold pickles ({type(exc).__name__})" \
                if _looks_like_pickle(head) else None
    return _stream_evidence(head, what="a pickle stream")


def _stream_evidence(head: bytes, what: str) -> str | None:
    if _looks_like_pickle(head):
        return _describe(what, head)
    inner = _decompressed_head(head)
    if inner is not None:
        kind, data = inner
        if _looks_like_pickle(data):
            return _describe(f"a {kind}-compressed pickle stream (as joblib writes)", data)
    return None


def _looks_like_pickle(data: bytes) -> bool:
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return True
    if not data or data[0] not in _PROTO01_FIRST:
        return False
    return any(op in _CODE_OPS for op, _ in _ops(data))


def _describe(what: str, data: bytes) -> str:
    names = sorted({f"{m}.{n}" for m, n in _globals(data)} - {f"{m}.{n}" for m, n in SAFE_GLOBALS})
    if names:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return f"{what} that imports {shown}"
    return what


def _ops(data: bytes) -> Iterator[tuple[str, object]]:
    """(opcode name, argument) until STOP, the end of the data, or the first malformed opcode."""
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            yield op.name, arg
            if op.name == "STOP":
                return
    except Exception:  # noqa: BLE001 - genops raises ValueError, EOFError, UnicodeDecodeError, ...: the parse ends
        return


def _globals(data: bytes) -> set[tuple[str, str]]:
    """Every (module, name) the stream imports; ("?", "?") where STACK_GLOBAL's operands are unknown."""
    found: set[tuple[str, str]] = set()
    strings: list[str | None] = []  # recent string pushes, memo lookups resolved
    memo: dict[int, str | None] = {}
    for name, arg in _ops(data):
        if name in {"GLOBAL", "INST"} and isinstance(arg, str):
            module, _, attr = arg.partition(" ")
            found.add((module, attr))
        elif name == "STACK_GLOBAL":
            module, attr = (strings[-2], strings[-1]) if len(strings) >= 2 else (None, None)
            found.add((module or "?", attr or "?"))
            strings.clear()
        elif name in {"EXT1", "EXT2", "EXT4"}:
            found.add(("copyreg extension", str(arg)))
        elif name in _STRING_OPS:
            strings.append(arg if isinstance(arg, str) else None)
        elif name == "MEMOIZE":
            memo[len(memo)] = strings[-1] if strings else None
        elif name in {"PUT", "BINPUT", "LONG_BINPUT"} and isinstance(arg, int):
            memo[arg] = strings[-1] if strings else None
        elif name in {"GET", "BINGET", "LONG_BINGET"} and isinstance(arg, int):
            strings.append(memo.get(arg))
    return found


def _zip_evidence(archive: zipfile.ZipFile, depth: int) -> str | None:
    infos = archive.infolist()
    if len(infos) > _MAX_MEMBERS:
        return f"a zip archive of {len(infos)} members, too many to check for pickles"
    names = [info.filename for info in infos]
    if any("/code/" in f"/{n}" for n in names) and any(n.endswith("constants.pkl") for n in names):
        return None  # TorchScript: torch.jit's restricted unpickler imports no Python
    for info in infos:
        if info.is_dir():
            continue
        with archive.open(info) as member:
            head = member.read(_SCAN_BYTES)
        found = _member_evidence(info.filename, head, depth)
        if found:
            return f"a zip archive whose member {info.filename} is {found}"
    return None


def _member_evidence(name: str, head: bytes, depth: int) -> str | None:
    if head.startswith(b"PK\x03\x04"):
        if depth >= _MAX_DEPTH:
            return "a zip archive nested too deep to check"
        try:
            with zipfile.ZipFile(io.BytesIO(head)) as inner:
                return _zip_evidence(inner, depth + 1)
        except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError):
            return "a damaged nested zip archive" if name.endswith((".pt", ".pth", ".pkl")) else None
    if not (name.endswith((".pkl", ".pickle", ".joblib")) or _looks_like_pickle(head)):
        return None
    unsafe = _globals(head) - SAFE_GLOBALS
    if not unsafe:
        return None  # tensors, storages and plain containers only: what weights_only=True loads
    shown = ", ".join(sorted(f"{m}.{n}" for m, n in unsafe)[:3])
    return f"a pickle that imports {shown}"


def _decompressed_head(head: bytes) -> tuple[str, bytes] | None:
    """The first bytes of a compressed stream, or None when `head` is not one we know."""
    size = 64 * 1024
    try:
        if head.startswith(b"\x1f\x8b"):
            return "gzip", gzip.GzipFile(fileobj=io.BytesIO(head)).read(size)
        if head[:1] == b"x" and len(head) > 1 and (head[0] * 256 + head[1]) % 31 == 0:
            return "zlib", zlib.decompressobj().decompress(head, size)
        if head.startswith(b"ZF"):  # joblib < 0.10: "ZF" + length, then zlib
            return "zlib", zlib.decompressobj().decompress(head[head.find(b"x"):], size)
        if head.startswith(b"BZh"):
            return "bz2", bz2.BZ2Decompressor().decompress(head, size)
        if head.startswith(b"\xfd7zXZ\x00") or head.startswith(b"\x5d\x00\x00"):
            return "lzma", lzma.LZMADecompressor().decompress(head, size)
        if head.startswith(b"\x04\x22\x4d\x18"):
            try:
                import lz4.frame  # type: ignore[import-not-found]
            except ImportError:
                return "lz4", b"\x80\x04"  # cannot look inside: joblib's lz4 files are pickles
            return "lz4", lz4.frame.LZ4FrameDecompressor().decompress(head, size)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
        return None
    return None
