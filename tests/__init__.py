import pytest

# Helpers shared by test modules assert too; rewrite them so their failures explain themselves.
pytest.register_assert_rewrite(
    "tests.factories", "tests.api.events_support", "tests.api.operations"
)
