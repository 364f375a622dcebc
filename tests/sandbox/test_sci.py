"""The python-sci profile through the real sandbox: its packages, its limits and verdicts,
and a plain `python` that never sees them."""

from __future__ import annotations

import base64
import functools
from pathlib import Path

import pytest

from onpyrunner.models import Outcome
from onpyrunner.sandbox.pool import RunOptions, Sandbox
from tests.sandbox.running import run_source
from tests.toolchains import need

pytestmark = pytest.mark.sandbox

REQUIREMENTS = Path(__file__).parents[2] / "requirements" / "python-sci.txt"


@pytest.fixture
def sci(sandbox: Sandbox) -> Sandbox:
    need(sandbox, "python-sci")
    return sandbox


run = functools.partial(run_source, language="python-sci")


def test_the_profile_lists_its_pinned_packages(sci: Sandbox) -> None:
    pinned = dict(
        line.split("==", 1)
        for line in REQUIREMENTS.read_text().splitlines()
        if line and not line.startswith("#")
    )
    packages = sci.runtime("python-sci").packages
    assert set(packages) == {
        "numpy",
        "pandas",
        "scipy",
        "sympy",
        "networkx",
        "scikit-learn",
        "matplotlib",
        "pytest",
    }
    assert all(packages[name] == pinned[name] for name in packages)


async def test_numpy(sci: Sandbox) -> None:
    code = """\
    import numpy as np
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    print(int((a @ a.T).trace()), np.linalg.det(np.eye(3)))
    """
    result = await run(sci, code)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    assert result.stdout == "506 1.0\n"


async def test_pandas_reads_stdin(sci: Sandbox) -> None:
    code = """\
    import sys
    import pandas as pd
    df = pd.read_csv(sys.stdin)
    print(df.groupby("k")["v"].sum().to_dict())
    """
    result = await run(sci, code, stdin=b"k,v\na,1\nb,2\na,3\n", memory_mb=256)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    assert result.stdout == "{'a': 4, 'b': 2}\n"


async def test_pytest_runs_a_test_file(sci: Sandbox) -> None:
    tests = b"def test_ok():\n    assert 1 + 1 == 2\n\ndef test_bad():\n    assert 1 + 1 == 3\n"
    code = """\
    import sys
    import pytest
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "test_it.py"]))
    """
    options = RunOptions(files={"test_it.py": tests})
    result = await run(sci, code, options=options, memory_mb=256)
    assert result.outcome is Outcome.RUNTIME_ERROR  # one test failed: pytest exits 1
    assert result.exit_code == 1
    assert "1 failed, 1 passed" in result.stdout


async def test_scipy_sympy_networkx_sklearn(sci: Sandbox) -> None:
    code = """\
    import networkx as nx
    import sympy
    from scipy import optimize
    from sklearn.linear_model import LinearRegression
    x = sympy.symbols("x")
    print(sympy.integrate(2 * x, (x, 0, 3)))
    print(round(float(optimize.brentq(lambda v: v * v - 2, 0, 2)), 6))
    print(nx.shortest_path_length(nx.path_graph(5), 0, 4))
    model = LinearRegression().fit([[0], [1], [2]], [1, 3, 5])
    print(round(float(model.coef_[0]), 6))
    """
    result = await run(sci, code, memory_mb=512, cpu_time_ms=10000, wall_time_ms=20000)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    assert result.stdout == "9\n1.414214\n4\n2.0\n"


async def test_matplotlib_draws_without_a_display(sci: Sandbox) -> None:
    code = """\
    import matplotlib
    import matplotlib.pyplot as plt
    plt.plot([1, 2, 3], [1, 4, 9])
    plt.savefig("plot.png")
    print(matplotlib.get_backend())
    """
    options = RunOptions(fetch=("plot.png",))
    result = await run(sci, code, options=options, memory_mb=256, cpu_time_ms=10000)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    assert result.stdout.strip().lower() == "agg"
    assert result.files is not None
    assert base64.b64decode(result.files["plot.png"]).startswith(b"\x89PNG")


async def test_thread_counts_are_set(sci: Sandbox) -> None:
    code = """\
    import os
    from threadpoolctl import threadpool_info
    print(os.environ["OMP_NUM_THREADS"], os.environ["OPENBLAS_NUM_THREADS"])
    print(sorted({p["num_threads"] for p in threadpool_info()}))
    """
    result = await run(sci, code)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    cores = max(
        1, len(__import__("os").sched_getaffinity(0)) // sci.settings.effective_concurrency()
    )
    assert result.stdout == f"{cores} {cores}\n[{cores}]\n"


async def test_a_numpy_allocation_over_the_memory_limit(sci: Sandbox) -> None:
    code = "import numpy as np\na = np.ones(50_000_000)\nprint(a.sum())\n"
    result = await run(sci, code, memory_mb=128)
    assert result.outcome is Outcome.MEMORY_LIMIT_EXCEEDED
    assert result.usage.memory_kb <= 128 * 1024


async def test_a_numpy_loop_over_the_cpu_limit(sci: Sandbox) -> None:
    code = """\
    import numpy as np
    a = np.random.default_rng(1).random((200, 200))
    while True:
        a = np.tanh(a @ a)
    """
    result = await run(sci, code, cpu_time_ms=500, wall_time_ms=30000)
    assert result.outcome is Outcome.TIME_LIMIT_EXCEEDED
    assert result.usage.cpu_time_ms >= 500
    assert result.usage.wall_time_ms < 30000


async def test_the_plain_python_entry_does_not_see_the_packages(sci: Sandbox) -> None:
    code = """\
    import os, site
    print([d for d in site.getsitepackages() if os.path.exists(d)])
    import numpy
    """
    result = await run(sci, code, language="python")
    assert result.outcome is Outcome.RUNTIME_ERROR
    assert result.stdout == "[]\n"
    assert "ModuleNotFoundError: No module named 'numpy'" in result.stderr


async def test_the_packages_are_read_only(sci: Sandbox) -> None:
    code = """\
    import numpy, os
    path = os.path.join(os.path.dirname(numpy.__file__), "x.py")
    try:
        open(path, "w")
    except OSError as e:
        print(e.errno)
    """
    result = await run(sci, code)
    assert result.outcome is Outcome.SUCCESS, result.stderr
    assert result.stdout == "30\n"  # EROFS
