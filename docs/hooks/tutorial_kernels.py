"""Build hook: the tutorials' kernels log errors only. ipykernel warns on every start that its
local TCP connection is not encrypted, which reads like a failure in the build log; the
nbconvert configuration in docs/hooks/jupyter/ (found through ``JUPYTER_CONFIG_PATH``) starts
the kernels with ``--IPKernelApp.log_level=ERROR``. What the tutorials print, warnings
included, still goes into their cells' outputs."""

import os
from pathlib import Path

CONFIG = Path(__file__).resolve().parent / "jupyter"


def on_startup(command, dirty):
    paths = [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    if str(CONFIG) not in paths:
        os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(CONFIG), *paths])
