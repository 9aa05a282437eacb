"""Markers shared by every test directory."""
from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "stack: brings up the reference compose stack")
    config.addinivalue_line("markers", "integration: talks to real services (Docker, PostgreSQL, moto_server, receiver)")
