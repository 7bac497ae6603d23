"""Fixtures shared by the core's tests."""

pytest_plugins = ["pytester"]
