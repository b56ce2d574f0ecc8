"""pytest-jupyter's server fixtures, for the tests of this folder only."""

from pytest_jupyter.jupyter_server import *  # noqa: F401,F403 - fixtures and the async test runner
