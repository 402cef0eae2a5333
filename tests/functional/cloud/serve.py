"""An EmulatorServer in its own process (for the kill -9 tests): prints its URL, serves until killed.

    python -m tests.functional.cloud.serve STATE_DIR
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from deployer.local.cloud.emulator import EmulatorServer

if __name__ == "__main__":
    server = EmulatorServer(state_dir=Path(sys.argv[1])).start()
    print(server.url, flush=True)
    while True:
        time.sleep(3600)
