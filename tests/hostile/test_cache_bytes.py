"""Item 10: the in-memory cache is bounded by bytes, not only by entries.

100 answers of 2 MiB each, every one cacheable and distinct, used to be held whole (the
entry bound is 1,024): the process grew by their total, about 200 MiB. With the default
``CacheConfig.max_bytes`` (32 MiB) it grows by about that much at most.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ALLOWED_GROWTH_KIB = 80 * 1024  # 32 MiB of entries, one answer in flight, allocator slack

PROBE = textwrap.dedent(
    """
    import asyncio, json, resource
    from aiohttp import web
    from geobox_usage import AsyncGeoboxClient, CacheConfig

    PAD = "x" * (2 << 20)

    async def big_user(request):
        user_id = int(request.match_info["id"])
        return web.json_response({"id": user_id, "pad": PAD})

    async def main():
        app = web.Application()
        app.router.add_get("/v1/users/{id}/", big_user)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host = "http://127.0.0.1:%d" % runner.addresses[0][1]
        async with AsyncGeoboxClient(host, access_token="t", cache=CacheConfig(ttl=600),
                                     load_entrypoints=False) as client:
            await client.get_user(1000)  # warm up: the session, the first buffers
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            for user_id in range(1, 101):
                await client.get_user(user_id)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            stage = next(s.stage for s in client.pipeline.stages if s.name == "cache")
            held = stage.backend.bytes
        await runner.cleanup()
        print(json.dumps({"growth_kib": peak - base, "held": held}))

    asyncio.run(main())
    """
)


def test_100_cached_answers_of_2_mib_stay_within_max_bytes() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True, text=True, timeout=120, check=True,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["held"] <= 32 * 1024 * 1024, report
    assert report["growth_kib"] < ALLOWED_GROWTH_KIB, report
