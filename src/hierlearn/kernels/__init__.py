"""Infinite-width and empirical kernels of two-layer networks and random representations.

Analytic (infinite-width) kernels, see `hierlearn.kernels.analytic`: [`ntk`][hierlearn.kernels.ntk],
[`nngp`][hierlearn.kernels.nngp], [`representation_kernel`][hierlearn.kernels.representation_kernel]
and the blockwise [`InfiniteWidthKernel`][hierlearn.kernels.InfiniteWidthKernel].
Finite-width kernels of given weights or fitted estimators, see
`hierlearn.kernels.empirical`. All are float64 by default, computed block by block
within a memory budget, and returned as torch tensors on the inputs' device.
Spectra of these kernels for inputs on the sphere, per harmonic degree:
[`spectrum`][hierlearn.kernels.spectrum]
(`hierlearn.kernels.spectra`).
"""

from .analytic import InfiniteWidthKernel, nngp, ntk, representation_kernel
from .empirical import (
    empirical_nngp,
    empirical_ntk,
    empirical_representation_kernel,
    fitted_representation_kernel,
)
from .spectra import KernelSpectrum, kernel_function, spectrum

__all__ = [
    "InfiniteWidthKernel",
    "KernelSpectrum",
    "empirical_nngp",
    "empirical_ntk",
    "empirical_representation_kernel",
    "fitted_representation_kernel",
    "kernel_function",
    "nngp",
    "ntk",
    "representation_kernel",
    "spectrum",
]
