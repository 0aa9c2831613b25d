"""The client's constructor, credentials, session ownership, resources and signatures."""

from __future__ import annotations

import gc
import inspect
import warnings
import weakref
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from geobox_usage import (
    AsyncApiKey,
    AsyncGeoboxClient,
    AsyncUsage,
    AsyncUser,
    CredentialKind,
    RetryConfig,
    Secret,
    UsageParam,
    UsageScale,
)
from geobox_usage.testing import (
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    DEMO_API_KEY_ID,
    DEMO_PASSWORD,
    DEMO_USER_ID,
    DEMO_USERNAME,
    SimulatedGeobox,
)

from .conftest import ClientFactory


def test_no_credentials_at_all_is_a_value_error(no_geobox_env: None) -> None:
    with pytest.raises(ValueError, match="no credentials: pass access_token=, apikey="):
        AsyncGeoboxClient()
    with pytest.raises(ValueError, match="no credentials"):
        AsyncGeoboxClient(username="only-a-name")


def test_credentials_come_from_the_environment(
    no_geobox_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOBOX_USERNAME", "env-user")
    monkeypatch.setenv("GEOBOX_PASSWORD", "env-pass")
    assert AsyncGeoboxClient().credentials.kind is CredentialKind.PASSWORD
    monkeypatch.setenv("GEOBOX_APIKEY", "env-key")
    assert AsyncGeoboxClient().credentials.kind is CredentialKind.APIKEY
    monkeypatch.setenv("GEOBOX_ACCESS_TOKEN", "env-token")
    client = AsyncGeoboxClient()
    assert client.credentials.kind is CredentialKind.ACCESS_TOKEN
    assert client.credentials.access_token == Secret("env-token")
    # explicit arguments come before the environment
    assert AsyncGeoboxClient(access_token="arg").credentials.access_token == Secret("arg")


def test_credential_identity_is_stable_distinct_and_not_secret(no_geobox_env: None) -> None:
    a = AsyncGeoboxClient(access_token="secret-one").context.identity
    b = AsyncGeoboxClient(access_token="secret-two").context.identity
    assert a == AsyncGeoboxClient(access_token="secret-one").context.identity
    assert a != b
    assert "secret" not in a and a.startswith("access_token:")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "api.geobox.ir"}, "host must be an http:// or https:// URL"),
        ({"host": "ftp://x"}, "host must be an http:// or https:// URL"),
        ({"host": "http://"}, "host must name a server"),
        ({"ver": 1}, "ver must be a string"),
        ({"retry": {"attempts": 2}}, "retry must be a RetryConfig or None, got dict"),
        ({"cache": 30}, "cache must be a CacheConfig or None, got int"),
        ({"timeout": 5}, "timeout must be a TimeoutConfig"),
        ({"session": object()}, "session must be an aiohttp.ClientSession"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        AsyncGeoboxClient(access_token="t", **kwargs)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RetryConfig(attempts=0), "attempts must be an integer >= 1, got 0"),
        (lambda: RetryConfig(backoff_base=-1), "backoff_base must be a number >= 0"),
        (lambda: RetryConfig(budget_ratio=1.5), "budget_ratio must be a number from 0 to 1"),
        (lambda: RetryConfig(backoff_base=2, backoff_max=1), "backoff_max (1) must be >="),
        (lambda: RetryConfig(deadline=0), "deadline must be a number > 0"),
    ],
)
def test_bad_config_values_name_the_field(build: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        build()
    assert message in str(caught.value)


async def test_client_opens_and_closes_its_own_session(sim: SimulatedGeobox) -> None:
    client = AsyncGeoboxClient(sim.base_url, access_token=DEMO_ACCESS_TOKEN)
    async with client:
        await client.get_usage_summary()
        session = await client.context.session()
        assert not session.closed
    assert session.closed
    assert client.closed
    await client.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_usage_summary()


async def test_a_host_owned_session_is_used_and_never_closed(sim: SimulatedGeobox) -> None:
    async with aiohttp.ClientSession() as session:
        async with AsyncGeoboxClient(
            sim.base_url, access_token=DEMO_ACCESS_TOKEN, session=session
        ) as client:
            view = await client.context.session()  # the host's pool, without its defaults
            assert view is not session and view.connector is session.connector
            await client.get_usage_summary()
        assert not session.closed
        # the host can go on using its session after the client is gone
        async with session.get(sim.api_url + "users/me/", headers={"Accept": "application/json"}):
            pass
    assert sim.count(path="usage/summary") == 1


async def test_without_async_with_the_session_opens_lazily_and_close_releases_it(
    sim: SimulatedGeobox,
) -> None:
    client = AsyncGeoboxClient(sim.base_url, access_token=DEMO_ACCESS_TOKEN)
    assert client._session is None
    await client.get_usage_summary()
    await client.close()
    assert client._session is None


async def test_no_resource_warning_after_a_full_session(sim: SimulatedGeobox) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with AsyncGeoboxClient(
            sim.base_url, username=DEMO_USERNAME, password=DEMO_PASSWORD
        ) as client:
            user = await client.get_user()
            await client.get_api_usage(user, UsageScale.Day, UsageParam.Calls, days_before_now=2)
            await client.update_usage()
        del client
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_the_resource_warning_check_can_fail(sim: SimulatedGeobox) -> None:
    """A client that is never closed does leave an unclosed session behind."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = AsyncGeoboxClient(sim.base_url, access_token=DEMO_ACCESS_TOKEN)
        await client.get_usage_summary()
        session = weakref.ref(await client.context.session())
        # Hold the connector so the collector cannot finalise it before the session
        # (which would make the session look closed and hide the warning).
        connector = (await client.context.session()).connector
        del client
        gc.collect()
        assert session() is None
    assert any("Unclosed client session" in str(w.message) for w in caught)
    assert connector is not None
    await connector.close()


async def test_users_and_api_keys_expose_their_fields(make_client: ClientFactory) -> None:
    client = make_client()
    user = await client.get_user()
    assert isinstance(user, AsyncUser)
    assert user.user_id == DEMO_USER_ID
    assert user.username == DEMO_USERNAME
    assert user.data["id"] == DEMO_USER_ID
    assert user.api is client
    with pytest.raises(AttributeError, match="has no field 'nope'"):
        _ = user.nope
    same = await client.get_user(DEMO_USER_ID)
    assert same.user_id == user.user_id
    key = await client.get_apikey(DEMO_API_KEY_ID)
    assert isinstance(key, AsyncApiKey)
    assert (key.key_id, key.key, key.revoked) == (DEMO_API_KEY_ID, DEMO_API_KEY, False)
    assert DEMO_API_KEY not in repr(key)
    assert repr(user) == f"AsyncUser(user_id={DEMO_USER_ID}, username={DEMO_USERNAME!r})"


async def test_async_usage_instance_and_repr(make_client: ClientFactory) -> None:
    client = make_client()
    user = await client.get_user()
    usage = AsyncUsage(client, user)
    assert usage.api is client and usage.user is user
    assert repr(usage) == f"AsyncUsage(user={user!r})"
    assert AsyncUsage.BASE_ENDPOINT == "usage/"


def test_enum_values_and_the_official_alias() -> None:
    assert [s.value for s in UsageScale] == ["hour", "day", "month"]
    assert [p.value for p in UsageParam] == ["traffic", "calls"]
    assert UsageParam.Traffict is UsageParam.Traffic


REFERENCE_SIGNATURES = {
    "get_api_usage": "(api, resource, scale, param, from_date=None, to_date=None, "
    "days_before_now=None, limit=None)",
    "get_process_usage": "(api, user_id=None, from_date=None, to_date=None, days_before_now=None)",
    "get_usage_summary": "(api, user_id=None)",
    "update_usage": "(api, user_id=None)",
}


@pytest.mark.parametrize("name", sorted(REFERENCE_SIGNATURES))
def test_signatures_match_the_official_reference(name: str) -> None:
    method = getattr(AsyncUsage, name)
    assert inspect.iscoroutinefunction(method)
    signature = inspect.signature(method.__func__)
    plain = signature.replace(
        parameters=[
            p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()
        ][1:],
        return_annotation=inspect.Signature.empty,
    )
    assert str(plain) == REFERENCE_SIGNATURES[name]
    # the client's own methods take the same parameters, without ``api``
    on_client = inspect.signature(getattr(AsyncGeoboxClient, name))
    assert list(on_client.parameters)[1:] == list(plain.parameters)[1:]


def test_client_constructor_keeps_the_official_parameters_first() -> None:
    params = list(inspect.signature(AsyncGeoboxClient).parameters.values())
    official = ["host", "ver", "username", "password", "access_token", "apikey", "verify"]
    assert [p.name for p in params[: len(official)]] == official
    assert params[0].default == "https://api.geobox.ir" and params[1].default == "v1/"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[len(official) :])


async def test_resources_built_by_hand_with_the_official_constructors(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client()
    user = AsyncUser(client, DEMO_USER_ID)  # the official AsyncUser(api, user_id, data={})
    key = AsyncApiKey(client, DEMO_API_KEY_ID, {"key": DEMO_API_KEY, "name": "reports"})
    for resource in (user, key):
        points = await client.get_api_usage(
            resource, UsageScale.Day, UsageParam.Calls, days_before_now=2
        )
        assert isinstance(points, list)
    eids = [dict(r.query)["eid"] for r in sim.requests]
    assert eids == [str(DEMO_USER_ID), DEMO_API_KEY]
    assert key.key == DEMO_API_KEY and key.name == "reports"  # fields as attributes
    assert user.data == {} and DEMO_API_KEY not in repr(key)
    with pytest.raises(ValueError, match=r"has no key string in its data \(data\['key'\]\)"):
        await client.get_api_usage(
            AsyncApiKey(client, 9), UsageScale.Day, UsageParam.Calls, days_before_now=2
        )


def test_resource_fields_read_as_the_official_resources_read_them() -> None:
    client = AsyncGeoboxClient(access_token="t", load_entrypoints=False)
    fields = {"id": 7, "created_at": "2025-07-07T10:20:30.123456",
              "last_login": "2025-07-08T01:02:03Z", "note": "2025-07"}  # fmt: skip
    user = AsyncUser(client, 7, fields)
    assert user.created_at == datetime(2025, 7, 7, 10, 20, 30, 123456)
    assert user.last_login == datetime(2025, 7, 8, 1, 2, 3)
    assert user.note == "2025-07"  # not a datetime form: the string as sent
    assert user.data["created_at"] == "2025-07-07T10:20:30.123456"
    assert {"created_at", "last_login", "note"} <= set(dir(user))
