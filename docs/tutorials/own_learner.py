# %% [markdown]
# # Measure an exponent for a learner that is not in hierlearn
#
# The harness measures any scikit-learn-compatible regressor, not only hierlearn's own: a
# learner's model can be `kind: estimator`, a class named by its import path with its
# constructor parameters, and a target can be `kind: callable`, a function of the inputs
# named the same way. This tutorial measures the sample complexity n*(d; eps) of
# scikit-learn's `KernelRidge` with a degree-2 polynomial kernel on a degree-2 target, fits
# the exponent of n* ~ d^e with its interval, and then does the same with a target of its
# own.
#
# The small size of the documentation build (d = 4 ... 16; three seeds) takes well under a
# minute on one core; `HIERLEARN_TUTORIAL_SIZE=full` widens the range of d to 32, adds seeds
# and uses the default 100,000 test points.

# %%
import json
import os
import sys
import tempfile
from pathlib import Path

from hierlearn.cli import main as hierlearn_cli
from hierlearn.experiments.spec import SpecError, parse_spec_text
from hierlearn.experiments.workflow import ExecutorOptions, report_into, run_into_store

FULL = os.environ.get("HIERLEARN_TUTORIAL_SIZE") == "full"
workdir = Path(tempfile.mkdtemp(prefix="hierlearn-tutorial-"))

# %% [markdown]
# ## The spec
#
# The target is the built-in degree-2 Hermite target f*(x) = He_2(<beta, x>) / sqrt(2) on
# gaussian x (unit second moment). The learner is `sklearn.kernel_ridge.KernelRidge` with the
# kernel k(x, y) = (<x, y> / d + 1)^2 (`gamma` left at its default, 1 / d), on raw x. Its
# `params` are fixed constructor arguments; its `search` lists candidates of others, here the
# ridge `alpha`: every candidate is fitted on the training labels and the one with the
# smallest error on the validation labels is kept. The validation labels are a fifth of the
# n labels and count in n, as for every learner of the harness. The harness passes a
# `random_state` where the class takes one (`KernelRidge` does not).
#
# The sample sizes are searched adaptively: n grows geometrically from the bracket's low end
# until the median error over seeds is below eps, then is bisected.

# %%
dimensions = [4, 6, 8, 12, 16, 24, 32] if FULL else [4, 6, 8, 12, 16]
seeds = 5 if FULL else 3
points = "" if FULL else "test_size: 10000\ndesign_size: 10000\n"  # full: the default 1e5
spec_text = f"""
name: kernel-ridge-poly2
description: scikit-learn's KernelRidge, degree-2 polynomial kernel, on a degree-2 target.
inputs: gaussian
target: {{degrees: 2, basis: hermite}}
dimensions: {dimensions}
samples:
  mode: adaptive
  bracket: ["2*d", "4*d**2"]
  growth: 2.0
  rel_precision: 0.1
seeds: {seeds}
{points}eps: 0.1
report_eps: [0.3]
learners:
  poly2:
    model:
      kind: estimator
      class: sklearn.kernel_ridge.KernelRidge
      params: {{kernel: poly, degree: 2, coef0: 1.0}}
      search: {{alpha: [1.0e-8, 1.0e-5, 1.0e-2]}}
"""
spec = parse_spec_text(spec_text, source="kernel-ridge-poly2.yaml")
print(spec.name, "learners:", list(spec.learners), "dimensions:", spec.dimensions)

# %% [markdown]
# The class and its parameters are checked when the spec is loaded: an import path that
# does not resolve, a class without `fit` and `predict`, a classifier, or a parameter the
# constructor does not take is refused before anything runs, with the field named (the
# command line exits with code 2 and writes nothing):

# %%
for wrong, right in [
    ("sklearn.kernel_ridge.KernelRidge", "sklearn.kernel_ridge.KernelRidg"),
    ("kernel: poly,", "kernal: poly,"),
    ("sklearn.kernel_ridge.KernelRidge", "sklearn.linear_model.LogisticRegression"),
]:
    try:
        parse_spec_text(spec_text.replace(wrong, right), source="bad.yaml")
    except SpecError as error:
        print(str(error).splitlines()[0][:150])

# %% [markdown]
# ## Run it
#
# From the command line this is `hierlearn run kernel-ridge-poly2.yaml --store poly2.sqlite`
# and `hierlearn report --store poly2.sqlite --out poly2-report`; from Python,
# `run_into_store` and `report_into` do the same (here in this process:
# `ExecutorOptions(workers=0)`). Every finished cell is committed to the store, whose rows
# carry the resolved config: the class's import path and every constructor parameter, its
# defaults included, so a changed parameter is a different cell.

# %%
store = workdir / "poly2.sqlite"
run_into_store(spec, spec_text, store, ExecutorOptions(workers=0), progress=False)

# %% [markdown]
# ## Read the report
#
# The report's table gives n* at each d and the fitted exponent with its 95% bootstrap
# interval over seeds. `theory row` and `theory` are empty (`-`): a learner outside
# hierlearn has no row in the theory table, so the report predicts no exponent for it
# (`p` is the target's degree).

# %%
content = report_into(store, workdir / "report", n_bootstrap=300)
summary_md = (workdir / "report" / "summary.md").read_text()
print(summary_md[summary_md.index("| learner") : summary_md.index("## n* at every eps")])


# %%
def interval(level) -> str:
    """The exponent and its 95% interval (an open end, where censored seeds leave one, is inf)."""
    low, high = (("-inf", "inf")[i] if v is None else f"{v:.2f}" for i, v in enumerate(level["ci"]))
    return f"{level['exponent']:.2f}, 95% interval [{low}, {high}]"


poly2 = content["learners"]["poly2"]
for eps, level in poly2["by_eps"].items():
    print(f"eps {eps}: exponent {interval(level)}")
print("\n  d   n* (eps 0.1)   (d+1)(d+2)/2")
for d, value in poly2["n_star"].items():
    span = (int(d) + 1) * (int(d) + 2) // 2
    shown = f"{value:12.0f}" if isinstance(value, float) else f"{value!s:>12}"
    print(f"{d:>3} {shown}   {span:12d}")

# %% [markdown]
# **What the number means.** The kernel (<x, y> / d + 1)^2 spans the (d + 1)(d + 2) / 2
# polynomials of degree <= 2, and with noise-free labels kernel ridge regression reaches
# eps = 0.1 about when its training labels (four fifths of n) nearly fill that span: n*
# sits close to the count in the table, so n* grows like d^2 as d grows. The fitted
# exponent is the slope of log n* against log d over *these* d, constant and lower-order
# terms included, not the asymptotic rate: (d + 1)(d + 2) / 2 itself has the local slope
# d / (d + 1) + d / (d + 2), 1.5 at d = 4 and 1.8 at d = 16, so an exponent a little below
# 2 is what a d^2 law looks like over this range. Its interval covers the variation over
# seeds, not this bias; a wider range of d (`HIERLEARN_TUTORIAL_SIZE=full`) moves both
# towards 2.

# %% [markdown]
# ## Your own target
#
# A target of your own is a function f(X) of a (n, d) float64 torch tensor that returns n
# values, importable by the process that runs the cells (and by those that write the
# report, which re-reads the spec). The relative error divides by the target's *exact*
# second moment E f*(x)^2 under the spec's inputs (docs/theory.md §3: never a sample
# estimate), so the spec must give it as `second_moment`. Here f*(x) = x_1 x_2, whose second
# moment under gaussian inputs is E x_1^2 E x_2^2 = 1, in a module written next to the
# store and put on the import path (a module of your own package needs neither step).

# %%
(workdir / "my_targets.py").write_text(
    "def product(X):\n"
    '    """f*(x) = x_1 x_2: E f*^2 = 1 under gaussian inputs."""\n'
    "    return X[:, 0] * X[:, 1]\n"
)
sys.path.insert(0, str(workdir))

own_text = (
    spec_text.replace("name: kernel-ridge-poly2", "name: kernel-ridge-product")
    .replace(
        "target: {degrees: 2, basis: hermite}",
        "target: {kind: callable, function: my_targets.product, second_moment: 1.0}",
    )
    .replace(f"dimensions: {dimensions}", f"dimensions: {dimensions[:3]}")
)
try:
    parse_spec_text(own_text.replace("second_moment: 1.0", "second_moment: 0"))
except SpecError as error:
    print(error)

# %% [markdown]
# The same run through the command line (`--workers 0`: in this process, which has the
# module on its import path), then its report. `noise_std` adds label noise as for the
# built-in targets; the test error stays against the noise-free f*.

# %%
(workdir / "product.yaml").write_text(own_text)
own_store, own_report = workdir / "product.sqlite", workdir / "product-report"
code = hierlearn_cli(
    ["run", str(workdir / "product.yaml"), "--store", str(own_store), "--workers", "0", "--quiet"]
)
print("exit code", code)
code = hierlearn_cli(["report", "--store", str(own_store), "--out", str(own_report)])
own = json.loads((own_report / "exponents.json").read_text())["learners"]["poly2"]
print("n* at eps 0.1:", {d: round(v) for d, v in own["n_star"].items() if isinstance(v, float)})
print("exponent at eps 0.1:", interval(own["by_eps"]["0.1"]))

# %% [markdown]
# x_1 x_2 is one of the degree-2 polynomials the kernel spans, so n* should be of the same
# size as for the Hermite target. A target's config (its function's import path and second
# moment) is part of every cell's key, but its code is not: give the function a new name
# when you change what it computes, or the store will reuse the cells of the old one.
