"""The collector's aiohttp application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from collector import (
    escalation_worker,
    keys,
    maintenance_worker,
    outbox_worker,
    sla_worker,
    sweeper,
    takeover,
)
from collector.api import ack, agents, rest
from collector.api.errors import api_errors
from collector.api.sms_inbound import InboundSmsSettings
from collector.api.sms_inbound import routes as sms_inbound_routes
from collector.config import CollectorConfig
from collector.heartbeats import intake_since
from collector.loops import run_until_cancelled
from collector.store.db import Database
from watchkeeper.clock import Clock, SystemClock

log = logging.getLogger(__name__)
ALIVE_EVERY = 5.0


async def _database(app: web.Application) -> AsyncIterator[None]:
    db = Database(app[keys.CONFIG].database)
    now = app[keys.CLOCK].now()
    row = db.conn.execute("SELECT last_alive_at FROM collector_state WHERE id = 1").fetchone()
    hb = app[keys.CONFIG].heartbeat
    since = intake_since(now, row[0] if row else None, hb.grace)
    if since:
        # We were down: deadlines that fell while nobody listened are not the devices' fault.
        with db.transaction() as conn:
            conn.execute("UPDATE devices SET next_deadline = MAX(next_deadline, ? + interval"
                         " + grace) WHERE next_deadline IS NOT NULL", (since,))
        log.info("collector was down since %.0f; heartbeat deadlines restart now", row[0])
    app[keys.INTAKE_SINCE] = since
    _mark_alive(db, now)
    app[keys.DB] = db
    yield
    # A clean stop records its time, so the next start measures the outage exactly.
    _mark_alive(db, app[keys.CLOCK].now())
    db.close()


def _mark_alive(db: Database, now: float) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO collector_state (id, last_alive_at) VALUES (1, ?)"
                     " ON CONFLICT (id) DO UPDATE SET last_alive_at = excluded.last_alive_at",
                     (now,))


async def _workers(app: web.Application) -> AsyncIterator[None]:
    db, config, clock, wakers = app[keys.DB], app[keys.CONFIG], app[keys.CLOCK], app[keys.WAKERS]
    lock = takeover.WorkerLock(config.database)  # raises AlreadyRunning
    if taken := takeover.take_back_leases(db, clock.now()):
        log.warning("%d message(s) were being sent when the collector stopped; sending again",
                    taken)
    last_alive = [clock.now()]

    async def sweep_step() -> float | None:
        now = clock.now()
        if now - last_alive[0] >= ALIVE_EVERY:
            _mark_alive(db, now)
            last_alive[0] = now
        if sweeper.sweep(db, config, app[keys.INTAKE_SINCE], now):
            wakers.escalation.set()
        nxt = sweeper.seconds_to_next_deadline(db, clock.now())
        return min(nxt, ALIVE_EVERY) if nxt is not None else ALIVE_EVERY

    async def escalation_step() -> float | None:
        if escalation_worker.fire_due(db, config, clock.now()):
            wakers.outbox.set()
        return escalation_worker.seconds_to_next_timer(db, clock.now())

    # Every channel's HTTP goes through one session: one pool of connections, kept alive.
    session = aiohttp.ClientSession()

    async def outbox_step() -> float | None:
        for msg in outbox_worker.claim_due(db, clock.now()):
            await outbox_worker.deliver(db, config, msg, clock, session)
        return outbox_worker.seconds_to_next_message(db, clock.now())

    async def maintenance_step() -> float | None:
        # A window's end starts the escalation of what still fails, and queues its summary.
        if maintenance_worker.process_due(db, config, clock.now()):
            wakers.escalation.set()
            wakers.outbox.set()
        return maintenance_worker.seconds_to_next_change(db, clock.now())

    async def sla_step() -> float | None:
        if sla_worker.fire_due(db, config, clock.now()):
            wakers.outbox.set()
        return sla_worker.seconds_to_next_timer(db, clock.now())

    tasks = [
        asyncio.create_task(run_until_cancelled("heartbeat sweeper", sweep_step, wakers.sweeper)),
        asyncio.create_task(run_until_cancelled("escalation", escalation_step, wakers.escalation)),
        asyncio.create_task(run_until_cancelled("outbox", outbox_step, wakers.outbox)),
        # Nothing in this process ends a window early (the CLI does): it is never woken.
        asyncio.create_task(run_until_cancelled("maintenance", maintenance_step,
                                                asyncio.Event())),
        # Never woken either: a new case's clock is attached within a second (the loop's
        # longest sleep), and its deadlines count from the opening however late that is.
        asyncio.create_task(run_until_cancelled("sla", sla_step, asyncio.Event())),
    ]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    lock.release()
    await session.close()


def create_app(config: CollectorConfig, clock: Clock | None = None,
               run_workers: bool = True,
               sms_inbound: InboundSmsSettings | None = None) -> web.Application:
    """`sms_inbound`: accept "ACK <case>" replies from the SMS gateway (no route without it)."""
    app = web.Application(
        middlewares=[api_errors],
        client_max_size=config.max_report_bytes,
        # Reports are gunzipped by our own bounded reader, never by the server.
        handler_args={"auto_decompress": False},
    )
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.WAKERS] = keys.Wakers()
    app.cleanup_ctx.append(_database)
    if run_workers:
        app.cleanup_ctx.append(_workers)
    app.router.add_get("/healthz", agents.get_health)
    app.router.add_post("/api/v1/enroll", agents.post_enroll)
    app.router.add_post("/api/v1/report", agents.post_report)
    app.router.add_get("/api/v1/rules", agents.get_rules)
    app.router.add_get("/ack/{token}", ack.get_ack)
    app.router.add_post("/ack/{token}", ack.post_ack)
    app.router.add_routes(rest.routes())
    sms_inbound = sms_inbound or inbound_sms_settings(config)
    if sms_inbound is not None:
        app.router.add_routes(sms_inbound_routes(sms_inbound))
    return app


def inbound_sms_settings(config: CollectorConfig) -> InboundSmsSettings | None:
    """From `[channel.sms] inbound = true`: the gateway's token signs its webhook calls, and
    each person's `phone` says who an "ACK" reply comes from."""
    sms = config.channels.get("sms")
    if sms is None or not sms.settings.inbound:
        return None
    return InboundSmsSettings(auth_token=sms.settings.auth_token, public_url=config.public_url,
                              phones={p.phone: p.name for p in config.people if p.phone})
