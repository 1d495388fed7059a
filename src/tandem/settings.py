"""Configuration: one `Settings`, read from `TANDEM_*` environment variables and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from cryptography.fernet import Fernet
from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class RunBudget(BaseModel):
    """The per-run limits a user may also set on the Models page; exceeding one ends the run with
    `limit_exceeded`."""

    model_requests: int = Field(default=50, ge=1, description="Model requests per run, both agents together.")
    tool_calls: int = Field(default=200, ge=1, description="Tool calls per run, both agents together.")
    total_tokens: int | None = Field(default=2_000_000, ge=1, description="Tokens per run; unset for no limit.")
    wall_seconds: float = Field(default=900.0, gt=0, description="Wall-clock time per run.")
    cost_usd: float | None = Field(
        default=None,
        gt=0,
        description="Estimated cost per run in US dollars (genai-prices); unset for no limit. Models whose price "
        "is unknown are not limited by it.",
    )


class RunLimits(RunBudget, BaseSettings):
    """Per-run limits: the budget, and per tool call `tool_output_chars` and `search_seconds`, which only
    shorten or fail that tool call."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_LIMIT_", env_file=".env", extra="ignore")

    tool_output_chars: int = Field(
        default=20_000, ge=100, description="Tool output shown to the model; the full output is stored."
    )
    search_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Time budget of one search_files tool call; a slower pattern is a tool error the agent reads.",
    )


class CommandLimits(BaseSettings):
    """The sandbox of the Coder's `run_command` tool; exceeding a limit ends that command with a
    message naming the setting, never the run or the server."""

    model_config = SettingsConfigDict(env_prefix="TANDEM_COMMAND_", env_file=".env", extra="ignore")

    sandbox: Literal["auto", "off"] = Field(
        default="auto",
        description="`auto`: offer `run_command` to the Coder when bubblewrap works on this machine (checked at "
        "start-up, reported by /api/v1/health); `off`: never.",
    )
    wall_seconds: float = Field(default=120.0, gt=0, le=3600, description="Wall-clock time of one command.")
    cpu_seconds: int = Field(default=120, ge=1, le=3600, description="CPU time of one command, all its processes.")
    memory_mb: int = Field(default=2048, ge=64, description="Memory (data segment) of each process of a command.")
    processes: int = Field(default=256, ge=8, description="Processes and threads a command may have at once.")
    output_bytes: int = Field(
        default=1_000_000, ge=1_000, description="Output (stdout and stderr) of one command; past it, it is stopped."
    )
    file_mb: int = Field(default=100, ge=1, description="Largest file a command may write.")
    network: bool = Field(default=False, description="Let commands reach the network (default: loopback only).")
    read_only_paths: Annotated[list[Path], NoDecode] = Field(
        default=[],
        description="More host folders commands can read (comma-separated), e.g. a toolchain outside /usr; "
        "/usr, /bin, /lib, /sbin and /etc always are.",
    )
    scratch_dir: Path | None = Field(
        default=None,
        description="Where each command gets its copy of the project (removed after it); default: "
        "`tandem-commands-<uid>` in the system's temporary folder. The commands' user must be able to reach it.",
    )
    uid: int = Field(
        default=65534,
        ge=1,
        description="When the server runs as root, commands run as this user id (kernel limits do not bind root).",
    )

    @field_validator("read_only_paths", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


AuthMode = Literal["none", "accounts"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANDEM_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"),
        description="Where the default SQLite database lives, and where imports unpack (removed after each).",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file `<data_dir>/tandem.db`."
    )

    model: str | None = Field(
        default=None,
        description="`provider:model` for both agents (`openai:gpt-4o`, `anthropic:claude-sonnet-4-5`, "
        "`ollama:qwen3`), or `scripted` for the deterministic scripted model (not AI).",
    )
    planner_model: str | None = None
    coder_model: str | None = None
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url")
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "anthropic_api_key")
    )
    ollama_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OLLAMA_BASE_URL", "ollama_base_url")
    )
    ollama_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OLLAMA_API_KEY", "ollama_api_key")
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key that encrypts the API key saved on the Models page (make one with "
        "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`). "
        "Unset: a key is generated once into `<data_dir>/secret.key` (mode 0600); several "
        "processes sharing one database need the same key.",
    )
    model_streaming: bool = Field(
        default=True,
        description="Stream model responses. Turn off for servers that cannot stream tool calls; "
        "events then arrive whole.",
    )

    model_check_on_first_use: bool = Field(
        default=True,
        description="Check each configured model (a few small requests) before a process's first run, unless a "
        "stored check exists; its result chooses streamed or non-streamed requests. `tandem models check` re-checks.",
    )
    model_retries: int = Field(
        default=4,
        ge=0,
        le=20,
        description="Retries of a model request that failed for a passing reason (429, 502, 503, 504, a lost "
        "connection), each shown in the run's stream; 0 turns retrying off.",
    )
    model_retry_max_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="The longest wait before one retry, even if the provider's Retry-After asks for more.",
    )

    scripted_pace: float = Field(default=0.0, ge=0, description="Seconds between scripted model chunks.")
    scripted_repeat: int = Field(default=1, ge=1, description="How many times the scripted Coder loops.")
    scripted_deltas: int = Field(
        default=0,
        ge=0,
        description="Benchmarks: extra thinking deltas the scripted model streams per step, each the "
        "CLOCK_MONOTONIC time it was emitted (`123.456789 `), so a client can measure emit-to-parse latency.",
    )

    limits: RunLimits = Field(default_factory=RunLimits)
    commands: CommandLimits = Field(default_factory=CommandLimits)

    max_file_bytes: int = Field(default=1_000_000, ge=1, description="Largest project file, in bytes.")
    max_message_chars: int = Field(default=100_000, ge=1, description="Longest chat message.")
    max_projects: int = Field(default=1_000, ge=1, description="Projects the server holds; creating one more is 422.")
    max_projects_per_user: int = Field(
        default=100, ge=1, description="Projects one user may own; creating or importing one more is 422."
    )
    max_project_files: int = Field(
        default=10_000, ge=1, description="Files in one project; creating one more is 422 (users and agents alike)."
    )
    max_project_bytes: int = Field(
        default=100_000_000,
        ge=1,
        description="Total size of one project's files, in bytes; a write that would grow it past this is 413.",
    )
    max_upload_bytes: int = Field(
        default=200_000_000,
        ge=1,
        description="Largest archive (zip or tar.gz) uploaded to create a project, in bytes; larger is 413. "
        "What it unpacks to is held to TANDEM_MAX_FILE_BYTES, TANDEM_MAX_PROJECT_FILES and TANDEM_MAX_PROJECT_BYTES.",
    )
    import_git_protocols: Annotated[list[str], NoDecode] = Field(
        default=["https", "http", "file"],
        description="URL schemes a Git import may clone from, comma-separated (`ssh` too if the server's "
        "account has keys; `file` reads repositories on the server's own disk: admins only).",
    )
    import_git_internal_hosts: bool = Field(
        default=False,
        description="Let every user import from Git hosts at internal addresses (loopback, private, link-local, "
        "multicast, reserved); otherwise only admins may (the server's own network, cloud metadata services).",
    )
    max_imports_per_user: int = Field(
        default=2, ge=1, description="Imports one user may have going at once, across every process; one more is 429."
    )
    imports_per_minute: int = Field(
        default=10,
        ge=1,
        description="Imports one user may start per minute; more are 429. Git pushes and pulls are counted apart, "
        "to the same number.",
    )
    ping_seconds: float = Field(default=15.0, gt=0, description="Idle time before an SSE `: ping` comment.")
    project_events_poll_seconds: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="How often a process looks for file changes of the projects its clients follow "
        "(`GET /projects/{id}/events`, the Preview's reload): one query for all of them, only while any is followed.",
    )
    stream_backlog_bytes: int = Field(
        default=262_144,
        ge=65_536,
        description="How far an SSE client may fall behind: while it has not taken this many bytes (the "
        "server's write buffer and the kernel's send queue), its stream sends nothing more.",
    )
    stream_stall_seconds: float = Field(
        default=30.0,
        gt=0,
        description="An SSE client that stays over its backlog, or keeps a write waiting, this long is "
        "disconnected (it can re-attach with `Last-Event-ID`; the run goes on).",
    )
    max_header_bytes: int = Field(
        default=32_768, ge=1024, description="Largest request line plus headers; larger requests get 431."
    )
    max_connections: int = Field(
        default=10_000,
        ge=1,
        description="Concurrent connections (or requests) `tandem serve` accepts; past it, 503. Each open "
        "stream is one; the process needs as many file descriptors.",
    )
    event_retention_seconds: float = Field(
        default=300.0, ge=0, description="How long a finished run's event log is kept (memory or Redis)."
    )
    events_url: str | None = Field(
        default=None,
        description="`redis://host:port/db` keeps run event logs in Redis Streams, so several processes can "
        "serve every run; default: in-process.",
    )
    heartbeat_seconds: float = Field(default=3.0, gt=0, description="How often a running run renews its lease.")
    run_lease_seconds: float = Field(
        default=15.0,
        gt=0,
        description="With Redis: a run whose process has not renewed its lease for this long is interrupted.",
    )
    frontend_dir: Path | None = Field(default=None, description="Built frontend to serve at `/`.")
    preview_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the preview origin, where project pages are served apart from the app (a page the "
        "model wrote must not run with the app's origin); default: `tandem serve`'s port + 1; 0: no previews.",
    )
    preview_origin: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+$",
        description="The preview origin as browsers reach it, behind a proxy (`https://preview.example.com`); "
        "default: the app's host name at the preview port.",
    )
    preview_minutes: float = Field(
        default=720.0, gt=0, description="How long a preview link (as the Preview tab opens it) works."
    )
    preview_toolchain: Path | None = Field(
        default=None,
        description="A node_modules folder with esbuild, React and React DOM, which build TypeScript/JSX pages "
        "for the preview; default: the checkout's toolchain/node_modules (`make install`).",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=["localhost", "127.0.0.1", "::1"],
        description="Host names this server answers for, comma-separated (a port is ignored); any other "
        "`Host` gets 421, which defeats DNS rebinding. `*` answers any host: only behind a proxy that checks it.",
    )

    auth: AuthMode = Field(
        default="none",
        description="`none`: one implicit local admin owns everything (loopback only: `tandem serve` refuses "
        "any other address); `accounts`: users sign in (password, then a cookie) or send an API token.",
    )
    session_days: float = Field(default=14.0, gt=0, description="How long a browser sign-in lasts.")
    max_runs_per_user: int = Field(
        default=3, ge=1, description="Runs one user may have going at once, across every process; one more is 429."
    )
    runs_per_minute: int = Field(default=30, ge=1, description="Runs one user may start per minute; more are 429.")
    max_commands_per_user: int = Field(
        default=2,
        ge=1,
        description="Terminal commands one user may have running at once on one process; one more is 429.",
    )
    downloads_per_minute: int = Field(
        default=10, ge=1, description="Project zip downloads one user may make per minute; more are 429."
    )
    login_attempts_per_minute: int = Field(
        default=10,
        ge=1,
        description="Failed sign-ins per minute for one user name, and for one client address; past it every "
        "sign-in for that name or from that address is 429 until the minute has passed (brute force).",
    )

    @field_validator("secret_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                Fernet(value.get_secret_value().encode())
            except ValueError:
                raise ValueError("must be a Fernet key: 32 bytes in URL-safe base64 (44 characters)") from None
        return value

    @field_validator("allowed_hosts", "import_git_protocols", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tandem.db').resolve()}"

    @property
    def planner_model_name(self) -> str | None:
        return self.planner_model or self.model

    @property
    def coder_model_name(self) -> str | None:
        return self.coder_model or self.model
