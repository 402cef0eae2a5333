"""Which handler is under test: the real `functions.app`, or the bench's stand-in.

``auto`` picks the real handler when `functions/app.py` exists, else the stub. Import errors of
a real handler that exists are not hidden: a benchmark of the wrong thing is worse than none.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

__all__ = ["REPO_ROOT", "real_handler_present", "resolve", "load_handler_module"]

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_MODULE = "functions.app"
STUB_MODULE = "bench.stub_app"


def real_handler_present() -> bool:
    return (REPO_ROOT / "functions" / "app.py").exists()


def resolve(choice: str) -> str:
    """'real' | 'stub' from the option value 'auto' | 'real' | 'stub'."""
    if choice == "auto":
        return "real" if real_handler_present() else "stub"
    if choice == "real" and not real_handler_present():
        raise SystemExit("--handler real: functions/app.py does not exist yet")
    return choice


def module_name(which: str) -> str:
    return REAL_MODULE if which == "real" else STUB_MODULE


def load_handler_module(which: str) -> ModuleType:
    """Import the handler module; MODEL_PATH must already be set in the environment."""
    return importlib.import_module(module_name(which))
