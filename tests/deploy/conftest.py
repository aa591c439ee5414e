"""The deployment tests report what they measured like the reliability suite does."""

from tests.reliability.conftest import pytest_terminal_summary

__all__ = ["pytest_terminal_summary"]
