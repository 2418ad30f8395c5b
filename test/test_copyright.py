# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Copyright and licence headers: ament_copyright where installed, the SPDX header always.

Every source file starts with `# Copyright <year> <holder>` and
`# SPDX-License-Identifier: Apache-2.0`. ament_copyright only knows licences by
their full header text, so the test registers the SPDX form of Apache-2.0 with
it for this run; everything else (finding the notice, rejecting unknown
licences) is ament_copyright's own check. ament_copyright has no PyPI wheel:
that test runs in a ROS installation and skips elsewhere, while the header
check below runs everywhere.
"""

from __future__ import annotations

from pathlib import Path
import re

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SPDX_LINE = "SPDX-License-Identifier: Apache-2.0"
COPYRIGHT_RE = re.compile(r"^# Copyright \d{4}(-\d{4})? \S.*$")
SPDX_RE = re.compile(r"^# " + re.escape(SPDX_LINE) + r"$")
# Not the package's sources: environments, VCS data and colcon build products.
SKIPPED_DIRS = frozenset({"build", "install", "log"})
CHECKED_SUFFIXES = (".py",)


def source_dirs(root: Path) -> list[Path]:
    """Top-level folders holding Python sources, as ament_copyright should see them.

    Folders are passed one by one rather than the repository root: at a VCS root
    ament_copyright also demands LICENSE and CONTRIBUTING.md files.
    """
    return sorted(
        path for path in root.iterdir()
        if path.is_dir() and path.name[0] not in "._" and path.name not in SKIPPED_DIRS
        and any(path.rglob("*.py"))
    )


def source_files(root: Path) -> list[Path]:
    """Python files of the package: top-level scripts and everything in source_dirs."""
    files = list(root.glob("*.py"))
    for folder in source_dirs(root):
        files.extend(
            path for path in folder.rglob("*")
            if path.suffix in CHECKED_SUFFIXES
            and not any(part[0] in "._" for part in path.relative_to(folder).parts[:-1])
        )
    return sorted(files)


def header_problem(path: Path) -> str | None:
    """Say what is wrong with the file's header, or None when it is right (or the file empty)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    if not any(line.strip() for line in lines):
        return None
    if len(lines) < 2 or not COPYRIGHT_RE.match(lines[0]) or not SPDX_RE.match(lines[1]):
        return ("expected the first two lines to be '# Copyright <year> <holder>' and "
                f"'# {SPDX_LINE}', found {lines[:2]!r}")
    return None


def test_spdx_headers() -> None:
    files = source_files(REPO_ROOT)
    assert files, f"no Python sources found under {REPO_ROOT}"
    problems = {str(path.relative_to(REPO_ROOT)): header_problem(path) for path in files}
    bad = {path: problem for path, problem in problems.items() if problem}
    assert not bad, "Files without the licence header:\n" + "\n".join(
        f"{path}: {problem}" for path, problem in bad.items())


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright(monkeypatch: pytest.MonkeyPatch) -> None:
    ament_main = pytest.importorskip(
        "ament_copyright.main",
        reason="ament_copyright is not installed (no PyPI wheel; in ROS: "
        "ros-$ROS_DISTRO-ament-copyright); test_spdx_headers checks the headers here",
    )
    import ament_copyright.licenses
    import ament_copyright.parser

    spdx_apache2 = ament_copyright.licenses.apache2._replace(
        name="Apache License, Version 2.0 (SPDX-License-Identifier)",
        file_headers=["{copyright}\n" + SPDX_LINE + "\n"],
    )
    # Looked up once: these scan every installed entry point on each call (per file).
    licenses = {**ament_copyright.parser.get_licenses(), "apache2_spdx": spdx_apache2}
    names = ament_copyright.parser.get_copyright_names()
    monkeypatch.setattr(ament_copyright.parser, "get_licenses", lambda: licenses)
    monkeypatch.setattr(ament_copyright.parser, "get_copyright_names", lambda: names)
    argv = [str(path) for path in source_dirs(REPO_ROOT)]
    argv += [str(path) for path in REPO_ROOT.glob("*.py")]
    rc = ament_main.main(argv=argv)
    assert rc == 0, "Found errors (see the captured output above)"
