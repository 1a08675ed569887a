"""`/metrics`, `/healthz` and `/readyz` for a long-running Platewatch process (the worker, the audit
sink): a Prometheus registry and a readiness callback in, an aiohttp server out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

# None when ready, else why not; and what else /readyz reports
Readiness = Callable[[], tuple[str | None, dict[str, Any]]]


def web_app(registry: CollectorRegistry, readiness: Readiness) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        reason, details = readiness()
        body = {"ready": reason is None, "reason": reason or "", **details}
        return web.json_response(body, status=200 if reason is None else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_endpoints(
    registry: CollectorRegistry, readiness: Readiness, host: str, port: int, what: str
) -> web.AppRunner:
    """Serve the endpoints until the returned runner's `cleanup()`."""
    runner = web.AppRunner(web_app(registry, readiness), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("%s: serving /metrics, /healthz, /readyz on %s:%d", what, host, port)
    return runner
