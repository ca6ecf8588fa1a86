"""Shared fixtures: the end-to-end kit is a plugin so feature tests get `bot`, `connector`, `sqlite_store`."""

pytest_plugins = ["tests.kit.fixtures"]
