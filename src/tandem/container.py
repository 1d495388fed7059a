"""The composition root: every long-lived object, built once from `Settings`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tandem.agents.adapt.quirks import ServerQuirks
from tandem.agents.models import resolve_model
from tandem.agents.team import Retries, Team
from tandem.persistence.database import create_engine, create_sessionmaker
from tandem.runs.cancellation import CancelBus, LocalCancelBus, RedisCancelBus
from tandem.runs.eventlog import EventLog, InProcessEventLog
from tandem.runs.manager import RunManager
from tandem.runs.redis_log import RedisEventLog
from tandem.services.accounts import Accounts
from tandem.services.chat import ChatService
from tandem.services.imports import Importer, ImportPolicy
from tandem.services.model_checks import ModelChecks
from tandem.services.projects import ProjectLimits
from tandem.settings import Settings
from tandem.workspace.files import FileLimits


@dataclass(frozen=True, kw_only=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    runs: RunManager
    chat: ChatService
    accounts: Accounts
    imports: Importer
    model_checks: ModelChecks


Quirks = Mapping[str | None, ServerQuirks]


def model_quirks(settings: Settings) -> Quirks:
    """One `ServerQuirks` per configured model, shared by its agents, the model check and every run."""
    return {name: ServerQuirks() for name in (settings.planner_model_name, settings.coder_model_name)}


def build_team(settings: Settings, quirks: Quirks) -> Team:
    """The team is stateless between runs, so one per process serves them all (building it costs
    milliseconds: agents, tool schemas, model clients); a failed build is retried on the next run.
    What it learns about a model server's quirks stays with the team, shared by both agents on one model."""
    planner, coder = settings.planner_model_name, settings.coder_model_name
    return Team(
        planner_model=resolve_model(
            planner,
            role="planner",
            scripted_pace=settings.scripted_pace,
            scripted_repeat=settings.scripted_repeat,
            quirks=quirks[planner],
        ),
        coder_model=resolve_model(
            coder,
            role="coder",
            scripted_pace=settings.scripted_pace,
            scripted_repeat=settings.scripted_repeat,
            quirks=quirks[coder],
        ),
        streaming=settings.model_streaming,
        limits=settings.limits,
        quirks={"Planner": quirks[planner], "Coder": quirks[coder]},
        retries=Retries(retries=settings.model_retries, max_wait=settings.model_retry_max_seconds),
    )


def build_events(settings: Settings) -> tuple[EventLog, CancelBus]:
    if settings.events_url is None:
        return InProcessEventLog(retention=settings.event_retention_seconds), LocalCancelBus()
    redis = Redis.from_url(settings.events_url, health_check_interval=10, socket_connect_timeout=5)
    return RedisEventLog(redis, retention=settings.event_retention_seconds), RedisCancelBus(redis)


def build_importer(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], *, operator: bool = False
) -> Importer:
    """`operator`: for `tandem import`, run on the server's machine by whoever runs the server, who
    may read its network anyway."""
    policy = ImportPolicy(
        files=FileLimits.of(settings),
        projects=ProjectLimits.of(settings),
        git_protocols=settings.import_git_protocols,
        git_internal_hosts=operator or settings.import_git_internal_hosts,
        max_per_user=settings.max_imports_per_user,
        per_minute=settings.imports_per_minute,
    )
    return Importer(
        sessions,
        policy=policy,
        scratch_root=settings.data_dir / "imports",
        # Like runs: one process owns every import unless several share events (and so a database).
        lease_seconds=settings.run_lease_seconds if settings.events_url else None,
    )


def build_container(settings: Settings) -> Container:
    engine = create_engine(settings.resolved_database_url)
    sessions = create_sessionmaker(engine)
    log, cancel_bus = build_events(settings)
    quirks = model_quirks(settings)
    checks = ModelChecks(settings=settings, sessions=sessions, quirks=quirks)
    runs = RunManager(
        sessions=sessions,
        log=log,
        cancel_bus=cancel_bus,
        team_factory=functools.cache(lambda: build_team(settings, quirks)),
        prepare=checks.prepare,
        file_limits=FileLimits.of(settings),
        max_message_chars=settings.max_message_chars,
        ping_seconds=settings.ping_seconds,
        heartbeat_seconds=settings.heartbeat_seconds,
        # One process owns every run in-process; with Redis, others may be alive and own theirs.
        lease_seconds=settings.run_lease_seconds if settings.events_url else None,
        max_runs_per_user=settings.max_runs_per_user,
    )
    imports = build_importer(settings, sessions)
    return Container(
        settings=settings,
        engine=engine,
        sessions=sessions,
        runs=runs,
        chat=ChatService(runs=runs, sessions=sessions, runs_per_minute=settings.runs_per_minute),
        imports=imports,
        model_checks=checks,
        accounts=Accounts(
            sessions,
            session_lifetime=timedelta(days=settings.session_days),
            login_attempts_per_minute=settings.login_attempts_per_minute,
        ),
    )
