"""The composition root: every long-lived object, built once from `Settings`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tandem.agents.adapt.quirks import KnownQuirks
from tandem.agents.models import agents_loaded, load_agents, resolve_model
from tandem.persistence.database import create_engine, create_sessionmaker
from tandem.runs.cancellation import CancelBus, LocalCancelBus
from tandem.runs.eventlog import EventLog, InProcessEventLog
from tandem.runs.manager import RunManager
from tandem.sandbox.bubblewrap import Commands
from tandem.sandbox.command import Sandbox
from tandem.sandbox.scratch import default_root
from tandem.services.accounts import Accounts
from tandem.services.bundles import Bundles, Toolchain
from tandem.services.chat import ChatService
from tandem.services.git_sync import GitPolicy, GitSync
from tandem.services.imports import Importer, ImportPolicy
from tandem.services.model_checks import ModelChecks
from tandem.services.model_settings import ModelSettings, ModelSetup
from tandem.services.previews import Previews
from tandem.services.project_events import ProjectWatch
from tandem.services.projects import ProjectLimits
from tandem.services.secrets import SecretBox
from tandem.services.terminal import Terminal
from tandem.settings import Settings
from tandem.workspace.files import FileLimits

if TYPE_CHECKING:
    from tandem.agents.team import Team


@dataclass(frozen=True, kw_only=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    runs: RunManager
    chat: ChatService
    accounts: Accounts
    imports: Importer
    git: GitSync
    model_checks: ModelChecks
    model_settings: ModelSettings
    commands: Commands
    previews: Previews
    project_events: ProjectWatch
    terminal: Terminal


def build_team(settings: Settings, setup: ModelSetup, quirks: KnownQuirks, *, sandbox: Sandbox | None = None) -> Team:
    """What the team learns about a model server's quirks stays in `quirks`, shared by both agents on one
    model, every later team and the model check."""
    load_agents()
    from tandem.agents.team import Retries, Team  # loaded above, off the start-up path

    planner_quirks = quirks.of(setup.planner, setup.planner_endpoint.base_url)
    coder_quirks = quirks.of(setup.coder, setup.coder_endpoint.base_url)
    return Team(
        planner_model=resolve_model(
            setup.planner,
            role="planner",
            scripted_pace=settings.scripted_pace,
            scripted_repeat=settings.scripted_repeat,
            quirks=planner_quirks,
            endpoint=setup.planner_endpoint,
        ),
        coder_model=resolve_model(
            setup.coder,
            role="coder",
            scripted_pace=settings.scripted_pace,
            scripted_repeat=settings.scripted_repeat,
            quirks=coder_quirks,
            endpoint=setup.coder_endpoint,
        ),
        streaming=settings.model_streaming,
        limits=settings.limits.model_copy(update=setup.budget.model_dump()),
        quirks={"Planner": planner_quirks, "Coder": coder_quirks},
        retries=Retries(retries=settings.model_retries, max_wait=settings.model_retry_max_seconds),
        sandbox=sandbox,
    )


class Teams:
    """The team for the setup in force when a run starts. A team is stateless between runs, so one serves
    every run on the same setup (building it costs milliseconds: agents, tool schemas, model clients); a
    run keeps the team it started with, so a setup saved meanwhile takes effect from the next run."""

    def __init__(
        self, settings: Settings, models: ModelSettings, checks: ModelChecks, quirks: KnownQuirks, commands: Commands
    ) -> None:
        self._settings = settings
        self._commands = commands
        self._models = models
        self._checks = checks
        self._quirks = quirks
        self._current: tuple[ModelSetup, Team] | None = None

    async def for_next_run(self) -> Team:
        await agents_loaded()
        setup = await self._models.setup()
        await self._checks.prepare(setup)
        if self._current is None or self._current[0] != setup:
            # A failed build raises (the run ends with `model_not_configured`) and is tried again next run.
            # Built after start-up has found out whether commands can run.
            sandbox = self._commands.found.sandbox
            self._current = (setup, build_team(self._settings, setup, self._quirks, sandbox=sandbox))
        return self._current[1]


def build_events(settings: Settings) -> tuple[EventLog, CancelBus]:
    if settings.events_url is None:
        return InProcessEventLog(retention=settings.event_retention_seconds), LocalCancelBus()
    # Imported only for Redis: the client costs ~0.4 s of start-up that the embedded default skips.
    from redis.asyncio import Redis

    from tandem.runs.redis_cancellation import RedisCancelBus
    from tandem.runs.redis_log import RedisEventLog

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
    quirks = KnownQuirks()
    # Made on first use: a server that never saves a key never writes a key file.
    box = functools.cache(lambda: SecretBox.of(settings))
    models = ModelSettings(settings=settings, sessions=sessions, box=box)
    checks = ModelChecks(
        models=models, sessions=sessions, quirks=quirks, on_first_use=settings.model_check_on_first_use
    )
    toolchain = Toolchain.find(
        settings.preview_toolchain or Path(__file__).resolve().parents[2] / "toolchain" / "node_modules"
    )
    limits = settings.commands
    if toolchain is not None:  # builds run as commands: they read esbuild and React where they are
        limits = limits.model_copy(update={"read_only_paths": [*limits.read_only_paths, toolchain.node_modules]})
    commands = Commands(limits=limits, root=limits.scratch_dir or default_root())
    runs = RunManager(
        sessions=sessions,
        log=log,
        cancel_bus=cancel_bus,
        team_factory=Teams(settings, models, checks, quirks, commands).for_next_run,
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
        git=GitSync(
            sessions,
            policy=GitPolicy(
                files=FileLimits.of(settings),
                protocols=settings.import_git_protocols,
                internal_hosts=settings.import_git_internal_hosts,
                per_minute=settings.imports_per_minute,
            ),
            scratch_root=settings.data_dir / "git",
            box=box,
        ),
        model_checks=checks,
        model_settings=models,
        commands=commands,
        previews=Previews(
            sessions,
            box=box,
            minutes=settings.preview_minutes,
            bundles=Bundles(
                sessions, toolchain=toolchain, sandbox=lambda: (commands.found.sandbox, commands.found.status)
            ),
        ),
        project_events=ProjectWatch(sessions, interval=settings.project_events_poll_seconds),
        terminal=Terminal(
            sessions,
            commands=commands,
            file_limits=FileLimits.of(settings),
            max_per_user=settings.max_commands_per_user,
        ),
        accounts=Accounts(
            sessions,
            session_lifetime=timedelta(days=settings.session_days),
            login_attempts_per_minute=settings.login_attempts_per_minute,
        ),
    )
