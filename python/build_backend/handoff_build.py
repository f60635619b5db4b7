"""A PEP 517 build backend for the handoff package, kept in the tree so that a clone builds with no other package.

build_wheel runs `swift build --product HandoffC` in the repository this directory belongs to, then writes a wheel
holding the Python sources (src/handoff) and the library (handoff/lib/libHandoffC.so).

Environment:
  HANDOFF_SWIFT_CONFIGURATION  release (default) or debug: the configuration `swift build` builds.
  HANDOFF_LIBRARY              a libHandoffC.so already built: packed as it is, no `swift build` run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

NAME = "handoff"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = PACKAGE_ROOT.parent


def _version() -> str:
    for line in (PACKAGE_ROOT / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise RuntimeError("pyproject.toml has no version")


def _metadata() -> str:
    readme = (PACKAGE_ROOT / "README.md").read_text()
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {_version()}\n"
        "Summary: Hand LLM KV caches from prefill to decode workers through Handoff.\n"
        "Requires-Python: >=3.9\n"
        "Provides-Extra: test\n"
        "Requires-Dist: pytest>=7; extra == 'test'\n"
        "Requires-Dist: numpy>=1.22; extra == 'test'\n"
        "Description-Content-Type: text/markdown\n"
        "\n" + readme
    )


def _platform_tag() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def _build_library() -> Path:
    given = os.environ.get("HANDOFF_LIBRARY")
    if given:
        return Path(given)
    if not (REPOSITORY / "Package.swift").exists():
        raise RuntimeError(f"{REPOSITORY} is not a Handoff clone: build the package from python/ inside one")
    configuration = os.environ.get("HANDOFF_SWIFT_CONFIGURATION", "release")
    if configuration not in ("release", "debug"):
        raise RuntimeError(f"HANDOFF_SWIFT_CONFIGURATION must be release or debug, not {configuration}")
    # The library finds the Swift runtime of the toolchain that built it (its RUNPATH names the toolchain's
    # lib/swift/linux), and libucx and OpenSSL from the system (the runtimes of libucx-dev and libssl-dev).
    command = ["swift", "build", "-c", configuration, "--product", "HandoffC"]
    print(f"handoff: {' '.join(command)}", file=sys.stderr)
    subprocess.run(command, cwd=REPOSITORY, check=True, stdout=sys.stderr)
    return REPOSITORY / ".build" / configuration / "libHandoffC.so"


def _stripped(library: Path, directory: Path) -> Path:
    """A copy of the library without debug sections when `strip` is there (a debug build is mostly DWARF)."""
    copy = directory / "libHandoffC.so"
    shutil.copyfile(library, copy)
    if shutil.which("strip"):
        subprocess.run(["strip", "--strip-debug", str(copy)], check=True)
    return copy


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    library = _build_library()
    if not library.exists():
        raise RuntimeError(f"no library at {library}")
    version = _version()
    tag = f"py3-none-{_platform_tag()}"
    wheel_name = f"{NAME}-{version}-{tag}.whl"
    dist_info = f"{NAME}-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    for source in sorted((PACKAGE_ROOT / "src" / NAME).rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            files.append((f"{NAME}/{source.relative_to(PACKAGE_ROOT / 'src' / NAME).as_posix()}", source.read_bytes()))
    with tempfile.TemporaryDirectory() as scratch:
        files.append((f"{NAME}/lib/libHandoffC.so", _stripped(library, Path(scratch)).read_bytes()))
    files.append((f"{dist_info}/METADATA", _metadata().encode()))
    files.append((
        f"{dist_info}/WHEEL",
        f"Wheel-Version: 1.0\nGenerator: handoff_build\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
    ))
    record = [_record_line(path, data) for path, data in files] + [f"{dist_info}/RECORD,,"]
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    path = Path(wheel_directory) / wheel_name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as wheel:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist_info = Path(metadata_directory) / f"{NAME}-{_version()}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(_metadata())
    return dist_info.name
