"""The line ``dev.py test``'s summary gives each Python from pytest's exit status: a
selection that matched nothing is "no test selected", not "passed"."""

from __future__ import annotations

import pytest

from dev import pytest_outcome


def test_a_run_that_passed() -> None:
    assert pytest_outcome(0, selection=False) == ("passed", 0)
    assert pytest_outcome(0, selection=True) == ("passed", 0)


def test_a_selection_that_matched_no_test_is_said_and_does_not_fail() -> None:
    assert pytest_outcome(5, selection=True) == ("no test selected", 0)


def test_a_whole_suite_without_tests_fails() -> None:
    assert pytest_outcome(5, selection=False) == ("FAILED (no test collected)", 5)


@pytest.mark.parametrize("status", [1, 2, 3, 4])
def test_failures_keep_pytests_status(status: int) -> None:
    assert pytest_outcome(status, selection=True) == (
        f"FAILED (pytest exit status {status})",
        status,
    )
