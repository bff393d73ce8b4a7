"""The one conftest. Fixtures (`backend`, `transport_name`, `db`, `make_table`) come from the shipped
plugin `aiotheory.testing`, loaded by `-p aiotheory.testing` in pyproject's pytest addopts."""

# pytester drives the plugin itself in a child pytest (tests/integration/test_engines.py).
pytest_plugins = ["pytester"]
