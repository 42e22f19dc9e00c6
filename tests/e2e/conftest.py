"""The e2e tests reuse the API fixtures (app context, client, users of every role)."""

from tests.api.conftest import client, ctx, users  # noqa: F401
