"""`python -m deployer.local.cloud --state DIR`: the local cloud's process (started by client.ensure)."""

from __future__ import annotations

import sys

from deployer.local.cloud.daemon import main

sys.exit(main())
