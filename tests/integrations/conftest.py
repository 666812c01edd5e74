"""The provider fakes as fixtures, and the provider HTTP each test gives its client."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fakes.postmark import fake_postmark
from tests.fakes.sendgrid import fake_sendgrid
from tests.fakes.smtp import fake_smtp
from tests.integrations.support import CallLog

__all__ = ["call_log", "fake_postmark", "fake_sendgrid", "fake_smtp", "http_client"]


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        yield client


@pytest.fixture
def call_log() -> CallLog:
    return CallLog()
