"""Blockwise evaluation of kernel matrices under a memory budget.

A kernel is evaluated through a callable ``evaluate(rows, cols, out=None) -> block`` (two
``slice`` objects into the row and column point sets; with ``out``, a tensor of the block's
shape - often a view into the matrix being filled - the block is written there and returned).
The helpers here cut an (n1, n2) matrix into blocks whose working memory fits the budget, and
either write the blocks into a matrix, or multiply them with a few vectors without ever holding
the matrix (the matrix-free products of the iterative solver).

Budget accounting: one block of ``rows x cols`` entries costs
``WORKSPACE_TEMPORARIES * rows * cols * itemsize`` bytes (the block itself and the temporaries
of the elementwise kernel maps). Blocks are also capped at ``MAX_BLOCK_ENTRIES`` entries,
which keeps them near the processor caches.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable

import torch

WORKSPACE_TEMPORARIES = 12  # block-sized tensors alive at once while a block is evaluated
MAX_BLOCK_ENTRIES = 1 << 17  # 1 MiB of float64 per block-sized tensor: cache-friendly
MIN_BLOCK_SIDE = 32  # a budget that cannot hold a 32 x 32 block is refused

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")

Evaluate = Callable[..., torch.Tensor]  # (rows, cols, out=None) -> block


def parse_memory_budget(value, name: str = "memory_budget") -> int:
    """Bytes from an int (bytes) or a string such as "4GiB", "512 MiB", "2.5e9" or "3GB".

    Units: B, kB/MB/GB/TB (powers of 1000) and KiB/MiB/GiB/TiB (powers of 1024), any case.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not math.isfinite(float(value)) or value <= 0:
            raise ValueError(f"{name} must be a positive number of bytes, got {value!r}")
        return int(value)
    match = _BUDGET.match(value) if isinstance(value, str) else None
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(
            f"{name}={value!r} is not valid; give bytes as an int or a string such as "
            "'4GiB', '512MiB' or '2GB' (units B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        )
    size = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if size < 1:
        raise ValueError(f"{name} must be at least one byte, got {value!r}")
    return int(size)


def minimum_budget(itemsize: int) -> int:
    """Bytes of the smallest block allowed (MIN_BLOCK_SIDE x MIN_BLOCK_SIDE entries)."""
    return WORKSPACE_TEMPORARIES * itemsize * MIN_BLOCK_SIDE * MIN_BLOCK_SIDE


def block_entries(budget: int, itemsize: int, name: str = "memory_budget") -> int:
    """The largest number of entries of one block that ``budget`` bytes allow.

    Raises:
        ValueError: when not even a MIN_BLOCK_SIDE x MIN_BLOCK_SIDE block fits.
    """
    entries = min(budget // (WORKSPACE_TEMPORARIES * itemsize), MAX_BLOCK_ENTRIES)
    if entries < MIN_BLOCK_SIDE * MIN_BLOCK_SIDE:
        needed = minimum_budget(itemsize)
        raise ValueError(
            f"{name}={budget} bytes is too small for one kernel block of {MIN_BLOCK_SIDE} x "
            f"{MIN_BLOCK_SIDE} entries, which needs {needed} bytes"
        )
    return entries


def block_shape(n1: int, n2: int, entries: int) -> tuple[int, int]:
    """Rows and columns of a block of at most ``entries`` entries, square when possible."""
    side = max(1, math.isqrt(entries))
    rows = min(n1, side)
    cols = min(n2, max(side, entries // max(rows, 1)))
    rows = min(n1, max(1, entries // cols))
    return rows, cols


def symmetrised(block: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """(block + block^T) / 2 (into ``out`` if given): a diagonal block made exactly symmetric."""
    return torch.add(block, block.T, out=out).mul_(0.5)


def fill(
    evaluate: Evaluate,
    out: torch.Tensor,
    entries: int,
    symmetric: bool = False,
    upper_only: bool = False,
) -> torch.Tensor:
    """Write the kernel matrix into ``out`` block by block.

    Args:
        evaluate: block callable (see the module docstring).
        out: (n1, n2) tensor to write into.
        entries: block size in entries (see `block_entries`).
        symmetric: the row and column point sets are the same; only blocks on or above the
            diagonal are evaluated and mirrored, and diagonal blocks are symmetrised, so the
            result is exactly symmetric.
        upper_only: with ``symmetric``, skip the mirroring (LAPACK factorisations read one
            triangle); entries strictly below the diagonal blocks are left untouched.
    """
    n1, n2 = out.shape
    if not symmetric:
        rows, cols = block_shape(n1, n2, entries)
        for i in range(0, n1, rows):
            for j in range(0, n2, cols):
                evaluate(slice(i, i + rows), slice(j, j + cols), out[i : i + rows, j : j + cols])
        return out
    side = min(n1, max(1, math.isqrt(entries)))
    for i in range(0, n1, side):
        rows = slice(i, i + side)
        for j in range(i, n1, side):
            cols = slice(j, j + side)
            if i == j:
                symmetrised(evaluate(rows, cols), out[rows, cols])
            else:
                block = evaluate(rows, cols, out[rows, cols])
                if not upper_only:
                    out[cols, rows].copy_(block.T)
    return out


class BlockCache:
    """Kernel blocks kept between matrix-free products, up to ``capacity`` bytes.

    The iterative solver multiplies by the same K at every iteration; the blocks that fit
    are evaluated once, straight into the cache's storage, and reused (first come, first
    kept; exactly the same values, so a cached product equals an uncached one). The storage
    is one tensor of at most ``capacity`` bytes, allocated at the first block (on the CPU its
    pages are only touched as blocks are written).
    """

    def __init__(self, capacity: int):
        self.capacity = max(0, int(capacity))
        self.used = 0  # entries
        self.blocks: dict[tuple[int, int], torch.Tensor] = {}
        self._storage: torch.Tensor | None = None

    def get(self, key: tuple[int, int]) -> torch.Tensor | None:
        """The block stored under ``key``, or None."""
        return self.blocks.get(key)

    def reserve(
        self, key: tuple[int, int], shape: tuple[int, int], like: torch.Tensor, total: int
    ) -> torch.Tensor | None:
        """Storage for a block of ``shape`` (dtype and device of ``like``), or None if full.

        ``total``: entries of all the blocks that will be offered, which bounds the storage.
        """
        entries = shape[0] * shape[1]
        if self._storage is None:
            size = min(self.capacity // like.element_size(), total)
            if size < entries:
                return None
            self._storage = like.new_empty(size)
        if self.used + entries > self._storage.numel():
            return None
        view = self._storage[self.used : self.used + entries].view(shape)
        self.used += entries
        self.blocks[key] = view
        return view

    def __len__(self) -> int:
        return len(self.blocks)


def symmetric_product(
    evaluate: Evaluate,
    n: int,
    vectors: torch.Tensor,
    entries: int,
    cache: BlockCache | None = None,
) -> torch.Tensor:
    """K @ vectors for a symmetric kernel on n points, without holding K.

    Each block above the diagonal is evaluated once and used twice (K_IJ v_J and
    K_IJ^T v_I), which halves the kernel evaluations; with a ``cache``, blocks it holds are
    not evaluated again and new ones are stored while it has room.

    Args:
        evaluate: block callable on the n points.
        n: number of points.
        vectors: (n, k) tensor.
        entries: block size in entries.
        cache: optional `BlockCache` shared by the products with the same kernel.
    """
    result = torch.zeros_like(vectors)
    side = min(n, max(1, math.isqrt(entries)))
    buffer = vectors.new_empty(side * side)  # blocks that are not cached are written here
    upper = sum(min(side, n - i) * (n - i) for i in range(0, n, side))  # entries on and above
    for i in range(0, n, side):
        rows = slice(i, i + side)
        height = min(side, n - i)
        for j in range(i, n, side):
            cols = slice(j, j + side)
            block = None if cache is None else cache.get((i, j))
            if block is None:
                shape = (height, min(side, n - j))
                slot = None if cache is None else cache.reserve((i, j), shape, vectors, upper)
                scratch = buffer[: shape[0] * shape[1]].view(shape)
                if i == j:
                    block = symmetrised(evaluate(rows, cols, scratch), slot)
                else:
                    block = evaluate(rows, cols, scratch if slot is None else slot)
            if i == j:
                result[rows] += block @ vectors[rows]
            else:
                result[rows] += block @ vectors[cols]
                result[cols] += block.T @ vectors[rows]
    return result


def product(
    evaluate: Evaluate, n1: int, n2: int, vectors: torch.Tensor, entries: int
) -> torch.Tensor:
    """K12 @ vectors for an (n1, n2) kernel, block by block; vectors has shape (n2, k)."""
    result = vectors.new_zeros((n1, vectors.shape[1]))
    rows, cols = block_shape(n1, n2, entries)
    for i in range(0, n1, rows):
        for j in range(0, n2, cols):
            block = evaluate(slice(i, i + rows), slice(j, j + cols))
            result[i : i + rows] += block @ vectors[j : j + cols]
    return result
