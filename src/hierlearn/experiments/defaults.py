"""What the harness's layers share: the bootstrap count of every interval and the key of an
eps level in the reports' JSON. In the lowest layer, importing nothing, so that the command
line reads them without loading the harness."""

from __future__ import annotations

# Bootstrap replicates behind every interval of a report, unless a caller asks for another
# count (the command line's --bootstrap).
N_BOOTSTRAP = 1000


def eps_key(eps: float) -> str:
    """The key of a threshold in ``by_eps``: ``f"{eps:g}"``."""
    return f"{eps:g}"
