"""setup.py's extension switches and the runtime switch of the fused op's path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BLACKBOX_SALIENCY_")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, env={**base, **(env or {})}
    )


def test_setup_without_torch_falls_back_with_a_warning() -> None:
    # sys.modules["torch"] = None makes `import torch` raise ImportError, as on a machine without torch.
    result = _run(
        "import sys, runpy; sys.modules['torch'] = None; sys.argv = ['setup.py', '--name']; "
        "runpy.run_path('setup.py', run_name='__main__')"
    )
    assert result.returncode == 0, result.stderr
    assert "torch is not importable at build time" in result.stderr
    assert "blackbox-saliency" in result.stdout or "blackbox_saliency" in result.stdout


def test_setup_no_extension_switch() -> None:
    result = _run(
        "import sys, runpy; sys.argv = ['setup.py', '--name']; runpy.run_path('setup.py', run_name='__main__')",
        env={"BLACKBOX_SALIENCY_NO_EXTENSION": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "BLACKBOX_SALIENCY_NO_EXTENSION is set" in result.stderr


def test_runtime_switch_selects_the_torch_reference() -> None:
    result = _run(
        "import torch; from blackbox_saliency.fast import active_path, mask_blend_tv, ops; "
        "from blackbox_saliency.fast.reference import mask_blend_tv as ref; "
        "m, x, a = torch.rand(2, 1, 3, 3), torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8); "
        "print(active_path()); print(all(torch.equal(p, q) for p, q in zip(mask_blend_tv(m, x, a), ref(m, x, a))))",
        env={"BLACKBOX_SALIENCY_NO_EXTENSION": "1"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "torch-reference (disabled by BLACKBOX_SALIENCY_NO_EXTENSION=1)"
    assert lines[-1] == "True"
