"""The package as installed: the stubs match the built native module, the public package type-checks
strictly against them, py.typed ships, and the pytest plugin is registered as an entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import potok


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_stubs_match_the_built_module(tmp_path):
    # mypy's stubtest imports potok._native and compares every name, signature (from __text_signature__),
    # property and class flag with _native.pyi.
    result = run("-m", "mypy.stubtest", "potok._native", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_package_type_checks_strictly(tmp_path):
    result = run("-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), "-p", "potok", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_py_typed_and_stub_ship_in_the_package():
    package = Path(potok.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_native.pyi").is_file()


def test_pytest_plugin_entry_point():
    entry_points = metadata.entry_points()
    group = (
        entry_points.select(group="pytest11")
        if hasattr(entry_points, "select")
        else entry_points.get("pytest11", [])  # Python 3.9's dict-shaped API.
    )
    assert "potok.pytest_plugin" in {ep.value for ep in group}


def test_plugin_fixtures_in_a_fresh_pytest_run(tmp_path):
    # A separate pytest process picks the plugin up from the entry point alone (no conftest, no -p).
    (tmp_path / "test_uses_plugin.py").write_text(
        "def test_broker(potok_broker):\n"
        "    assert potok_broker.running and potok_broker.port > 0\n"
        "def test_same_broker_for_the_session(potok_broker):\n"
        "    assert potok_broker.bootstrap_servers\n"
    )
    result = run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
