"""The PEP 517 backend of ``pip install ./bindings-python``: maturin's, with cargo's progress shown.

pip captures a build backend's output and shows it only when the build fails (or with ``-v``), so the first
build, which compiles potok's engine for a few minutes, would look stuck. When pip runs in a terminal, the
build's stderr (cargo's ``Compiling ...`` lines and progress bar) goes to that terminal instead; without one
(CI, a service) nothing changes. Every other hook is maturin's own.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Mapping, Optional

import maturin
from maturin import (  # noqa: F401  (re-exported PEP 517 hooks)
    build_sdist,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

# maturin warns whenever `build-backend` is not literally "maturin", although this module is maturin's backend.
os.environ.setdefault("MATURIN_NO_MISSING_BUILD_BACKEND_WARNING", "1")


@contextlib.contextmanager
def terminal_stderr() -> Iterator[None]:
    """Points file descriptor 2 (inherited by maturin and cargo) at the controlling terminal, if any."""
    try:
        tty = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        yield
        return
    saved = os.dup(2)
    try:
        os.dup2(tty, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(tty)


def build_wheel(
    wheel_directory: str,
    config_settings: Optional[Mapping[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    with terminal_stderr():
        return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(
    wheel_directory: str,
    config_settings: Optional[Mapping[str, Any]] = None,
    metadata_directory: Optional[str] = None,
) -> str:
    with terminal_stderr():
        return maturin.build_editable(wheel_directory, config_settings, metadata_directory)
