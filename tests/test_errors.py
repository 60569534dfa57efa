"""The one-line reason people see (states, ps, the 503 page) names the cause, not just that
there was one."""

from __future__ import annotations

import pytest

from spacerunner.errors import AppExitedError, EnvBuildError, StartupTimeoutError, summary

TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/home/user/app/app.py", line 1, in <module>',
    "    import torch",
    "ModuleNotFoundError: No module named 'torch'",
    "[spacerunner] exited with code 1",
]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            AppExitedError("demo", 1, "exited with code 1 while starting", TRACEBACK),
            "demo: exited with code 1 while starting: ModuleNotFoundError: No module named 'torch'",
        ),
        (
            EnvBuildError(
                "installing requirements failed (exit code 1). The installer said:\n"
                "  × No solution found when resolving dependencies:\n"
                "  ╰─▶ Because nonexistent-package was not found in the package registry"
            ),
            "installing requirements failed (exit code 1): Because nonexistent-package was not "
            "found in the package registry",
        ),
        (
            AppExitedError("demo", 1, "exited with code 1 while starting", ["starting", "bye"]),
            "demo: exited with code 1 while starting: bye",
        ),
        (
            AppExitedError("demo", -9, "killed by SIGKILL", []),
            "demo: killed by SIGKILL: (the app printed nothing)",
        ),
        (ValueError("one line\nand more"), "one line"),
    ],
)
def test_the_reason_names_the_cause(error: Exception, expected: str) -> None:
    assert summary(error) == expected


def test_a_timeout_keeps_its_fix_and_gives_the_last_line() -> None:
    error = StartupTimeoutError("demo", 30, "GET /", ["Loading model...", "still loading"])
    line = summary(error)
    assert line.startswith("demo: not ready after 30s (waited for GET /).")
    assert "raise startup_duration_timeout" in line and line.endswith(": still loading")
