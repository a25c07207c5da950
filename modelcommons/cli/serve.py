"""`commons serve`: the hub's HTTP server."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..hub import Hub
from ..server import request_log
from ..settings import Settings
from .common import (
    data_dir_option,
    database_option,
    migrate_or_exit,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp


@click.command()
@click.option("--host", default=None, help="Interface to bind [default: 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port [default: 8000].")
@data_dir_option
@database_option
@click.option("--public-url", default=None, help="Base URL clients use to reach the hub.")
def serve(
    host: str | None,
    port: int | None,
    data_dir: str | None,
    database_url: str | None,
    public_url: str | None,
) -> None:
    """Start the hub (runs migrations first)."""
    import uvicorn

    from ..app import HubApp
    from ..server.limits import protocol_for

    try:
        settings = Settings.from_env(
            host=host,
            port=port,
            data_dir=data_dir,
            database_url=database_url,
            public_url=public_url,
        )
        proxies = settings.trusted_proxy_list
        prefix = settings.url_prefix
        request_log.configure(settings.log_format)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    hub = Hub(settings)
    migrate_or_exit(hub.startup)
    hub.jobs.start()
    hub.pipeline.resume()  # pipeline steps a stopped process left queued or running
    logging.getLogger("modelcommons").info(
        "Model Commons on http://%s:%s%s (data in %s)",
        settings.host,
        settings.port,
        "" if settings.proxy_strips_prefix else prefix,
        Path(settings.data_dir).resolve(),
    )
    app: ASGIApp = HubApp(hub)
    if settings.log_requests:
        app = request_log.RequestLog(app, prefix=prefix)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        # Our log lines, in our format (request_log.configure); uvicorn's access log is off
        # because the request log says more (principal, bytes, duration, redaction).
        log_config=None,
        access_log=False,
        loop="uvloop",
        # uvicorn's httptools protocol, with caps on request heads (server/limits.py).
        http=protocol_for(settings),
        lifespan="on",
        timeout_keep_alive=30,
        # Forwarding headers only from the proxies the settings name: uvicorn on its own
        # believes any from 127.0.0.1 (or $FORWARDED_ALLOW_IPS), so behind a local proxy
        # that passes a client's X-Forwarded-For through, clients could pick their address.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
        # Behind a proxy that strips the URL prefix, uvicorn puts it back in front of
        # each request's path, so the app always routes on the full public path.
        root_path=prefix if settings.proxy_strips_prefix else "",
    )
