"""``mscsql serve``: the HTTP API over the configured databases."""

from __future__ import annotations

import ipaddress
import logging
import threading
from pathlib import Path
from typing import Annotated

import typer

from mscsql.cli.app import app, err
from mscsql.errors import BackendUnavailable, ConfigError, MscSqlError

log = logging.getLogger("mscsql.serve")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve(
    config: Annotated[Path, typer.Option(help="the serve config (configs/serve.yaml is a commented example)")],
    host: Annotated[str, typer.Option(help="address to listen on; without API keys, only a loopback one")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port (8800 keeps clear of vLLM's 8000)")] = 8800,
) -> None:
    """Serve the pipeline over HTTP: /v1/ask (JSON or Server-Sent Events), /v1/sql, /v1/databases, /metrics,
    /docs."""
    try:
        import uvicorn

        from mscsql.serve.app import create_app
    except ImportError as error:
        raise BackendUnavailable(f"mscsql serve needs {error.name}", hint="pip install 'mscsql[serve]'") from None
    from mscsql.serve.config import load_serve_config
    from mscsql.serve.service import Service

    settings, base = load_serve_config(config)
    keys, _admin = settings.auth.keys()
    if not keys and not _loopback(host):
        raise ConfigError(f"no API keys are set ({settings.auth.api_keys_env} is empty), so the service listens only "
                          f"on a loopback address, not {host}",
                          hint=f"export {settings.auth.api_keys_env}=key1,key2, or use --host 127.0.0.1")
    service = Service(settings, base)
    try:
        service.check()  # a model that cannot run stops the start
    except Exception:
        service.close()
        raise

    def load() -> None:
        try:
            service.load()
        except MscSqlError as error:  # the service stays up, not ready: /readyz says 503 and the log says why
            log.error("the models could not be loaded: %s", error)  # the log handler redacts credentials

    threading.Thread(target=load, name="mscsql-load", daemon=True).start()
    err.print(f"mscsql serve: http://{host}:{port} ({len(settings.databases)} databases; /docs, /readyz)",
              highlight=False)
    try:
        uvicorn.run(create_app(service, host=host), host=host, port=port, log_level="warning", access_log=False)
    finally:
        service.close()



@app.command("mcp")
def mcp(
    config: Annotated[Path, typer.Option(help="the serve config (the same file as mscsql serve's)")],
) -> None:
    """Serve the read-only MCP tools (list_databases, describe_database, ask, run_sql) over stdio, for an MCP
    client that starts this command."""
    try:
        from mscsql.serve.mcp_server import build_mcp
    except ImportError as error:
        raise BackendUnavailable(f"mscsql mcp needs {error.name}", hint="pip install 'mscsql[serve]'") from None
    from mscsql.serve.config import load_serve_config
    from mscsql.serve.service import Service

    settings, base = load_serve_config(config)
    service = Service(settings, base)
    try:
        service.load()  # before the first message: a client sees ready tools, or this command fails at once
        build_mcp(service).run("stdio")
    finally:
        service.close()
