"""The models the team uses: chosen on the Models page (stored server-side, the API key encrypted and never
returned) or by environment variables, which win wherever they are set. A run takes the setup in force when it
starts and keeps it to the end: saving here changes the next run, never a running one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tandem.agents.models import Endpoint
from tandem.persistence.models import ModelSettingsRow
from tandem.services.secrets import SecretBox, SecretUnreadable
from tandem.settings import RunBudget, Settings

Provider = Literal["openai-compatible", "openai", "anthropic", "ollama"]
_PREFIX: dict[Provider, str] = {
    "openai-compatible": "openai",
    "openai": "openai",
    "anthropic": "anthropic",
    "ollama": "ollama",
}
_PROVIDER: TypeAdapter[Provider] = TypeAdapter(Provider)
_USES_BASE_URL: tuple[Provider, ...] = ("openai-compatible", "ollama")
_ROW_ID = 1
OLLAMA_DEFAULT_URL = "http://localhost:11434/v1"


def _one_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("must be an http:// or https:// URL with a host, such as http://localhost:8080/v1")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password: put the key in the API key field")
    return value.rstrip("/")


def _one_word(value: str) -> str:
    # Pasted keys and names often bring a line break or a space along; the server would reject them later,
    # with a message that no longer shows why.
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError("must be one line of printable ASCII without spaces (was a line break pasted with it?)")
    return value


BaseUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_one_url)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_one_word)]
ApiKey = Annotated[str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_one_word)]


class ModelSettingsIn(BaseModel):
    """What the Models page saves."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    base_url: BaseUrl | None = Field(
        default=None,
        description="The server's OpenAI-compatible API (usually ending in /v1): required for `openai-compatible`, "
        "optional for `ollama` (default http://localhost:11434/v1), not taken for `openai` and `anthropic`.",
    )
    planner_model: ModelName = Field(description="The model's name on that server, such as `gpt-4o` or `qwen3`.")
    coder_model: ModelName | None = Field(default=None, description="The Coder's model; null: the Planner's.")
    api_key: ApiKey | None = Field(default=None, description="A new API key; null keeps the saved one.")
    forget_api_key: StrictBool = Field(default=False, description="Remove the saved API key.")
    limits: RunBudget = Field(default_factory=RunBudget)

    @model_validator(mode="after")
    def _base_url_fits_provider(self) -> ModelSettingsIn:
        if self.provider == "openai-compatible" and self.base_url is None:
            raise ValueError("an OpenAI-compatible server needs its base URL, such as http://localhost:8080/v1")
        if self.provider not in _USES_BASE_URL and self.base_url is not None:
            raise ValueError(
                f"the {self.provider} provider takes no base URL; choose openai-compatible for another server"
            )
        if self.api_key is not None and self.forget_api_key:
            raise ValueError("send either a new api_key or forget_api_key, not both")
        return self


class SavedKey(BaseModel):
    set: bool
    last4: str | None = Field(description="The key's last 4 characters, to tell keys apart; never the key.")
    readable: bool = Field(
        description="False: the key was saved under another TANDEM_SECRET_KEY (or a lost key file): save it again."
    )


class FromEnvironment(BaseModel):
    """A field an environment variable sets: it wins over what the Models page saves."""

    field: str
    variable: str
    value: str | None = Field(description="The variable's value; null for API keys, which are never shown.")
    providers: list[Provider] = Field(description="The providers it applies to.")


class ModelSettingsOut(BaseModel):
    provider: Provider | None
    base_url: str | None
    planner_model: str | None
    coder_model: str | None
    api_key: SavedKey
    limits: RunBudget = Field(description="The limits in force (environment variables win).")
    environment: list[FromEnvironment]
    saved_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class ModelSetup:
    """What a run uses: each agent's `provider:model` and endpoint, and the run's budget."""

    planner: str | None
    coder: str | None
    planner_endpoint: Endpoint
    coder_endpoint: Endpoint
    budget: RunBudget


@dataclass(frozen=True, kw_only=True)
class _Saved:
    provider: Provider
    base_url: str | None
    planner_model: str
    coder_model: str | None
    api_key: str | None
    limits: RunBudget


def _provider_of(name: str | None) -> str:
    return (name or "").partition(":")[0]


def _environment(settings: Settings) -> list[FromEnvironment]:
    every: list[Provider] = list(_PREFIX)
    found: list[FromEnvironment] = []

    def add(field: str, variable: str, value: str | None, providers: list[Provider]) -> None:
        if value:  # an empty variable is unset, as for the settings themselves
            found.append(FromEnvironment(field=field, variable=variable, value=value, providers=providers))

    add("planner_model", "TANDEM_PLANNER_MODEL", settings.planner_model, every)
    add("coder_model", "TANDEM_CODER_MODEL", settings.coder_model, every)
    add("planner_model", "TANDEM_MODEL", None if settings.planner_model else settings.model, every)
    add("coder_model", "TANDEM_MODEL", None if settings.coder_model else settings.model, every)
    add("base_url", "OPENAI_BASE_URL", settings.openai_base_url, ["openai-compatible", "openai"])
    add("base_url", "OLLAMA_BASE_URL", settings.ollama_base_url, ["ollama"])
    keys: list[tuple[str, SecretStr | None, list[Provider]]] = [
        ("OPENAI_API_KEY", settings.openai_api_key, ["openai-compatible", "openai"]),
        ("ANTHROPIC_API_KEY", settings.anthropic_api_key, ["anthropic"]),
        ("OLLAMA_API_KEY", settings.ollama_api_key, ["ollama"]),
    ]
    for variable, key, providers in keys:
        if _value(key) is not None:
            found.append(FromEnvironment(field="api_key", variable=variable, value=None, providers=providers))
    for name in sorted(settings.limits.model_fields_set & set(RunBudget.model_fields)):
        add(f"limits.{name}", f"TANDEM_LIMIT_{name.upper()}", str(getattr(settings.limits, name)), every)
    return found


def _endpoint(settings: Settings, name: str | None, saved: _Saved | None) -> Endpoint:
    """The environment's base URL and key for this model's provider, else the saved ones if they are for it."""
    provider = _provider_of(name)
    mine = saved is not None and _PREFIX[saved.provider] == provider
    env_url = {"openai": settings.openai_base_url, "ollama": settings.ollama_base_url}.get(provider)
    env_key = _value(
        {
            "openai": settings.openai_api_key,
            "anthropic": settings.anthropic_api_key,
            "ollama": settings.ollama_api_key,
        }.get(provider)
    )
    saved_url = saved.base_url if saved is not None and mine else None
    if provider == "ollama" and mine and saved_url is None:
        saved_url = OLLAMA_DEFAULT_URL
    return Endpoint(base_url=env_url or saved_url, api_key=env_key or (saved.api_key if saved and mine else None))


def _value(secret: SecretStr | None) -> str | None:
    """An environment variable's secret; an empty one is unset."""
    return (secret.get_secret_value() or None) if secret is not None else None


def combine(settings: Settings, saved: _Saved | None) -> ModelSetup:
    """The setup in force: the environment's values where set, else the saved ones."""
    saved_planner = f"{_PREFIX[saved.provider]}:{saved.planner_model}" if saved is not None else None
    saved_coder = f"{_PREFIX[saved.provider]}:{saved.coder_model}" if saved and saved.coder_model else saved_planner
    planner = settings.planner_model_name or saved_planner
    coder = settings.coder_model_name or saved_coder
    from_env = settings.limits.model_fields_set
    budget = RunBudget.model_validate(
        {
            name: getattr(settings.limits if saved is None or name in from_env else saved.limits, name)
            for name in RunBudget.model_fields
        }
    )
    return ModelSetup(
        planner=planner,
        coder=coder,
        planner_endpoint=_endpoint(settings, planner, saved),
        coder_endpoint=_endpoint(settings, coder, saved),
        budget=budget,
    )


class ModelSettings:
    def __init__(
        self, *, settings: Settings, sessions: async_sessionmaker[AsyncSession], box: Callable[[], SecretBox]
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._box = box

    async def setup(self) -> ModelSetup:
        async with self._sessions() as session:
            row = await session.get(ModelSettingsRow, _ROW_ID)
        return combine(self._settings, self._saved(row))

    async def view(self) -> ModelSettingsOut:
        async with self._sessions() as session:
            row = await session.get(ModelSettingsRow, _ROW_ID)
        return self._out(row)

    async def save(self, new: ModelSettingsIn) -> ModelSettingsOut:
        async with self._sessions.begin() as session:
            row = await session.get(ModelSettingsRow, _ROW_ID, with_for_update=True)
            if row is None:
                row = ModelSettingsRow(id=_ROW_ID, api_key=None)
                session.add(row)
            if new.api_key is not None:
                row.api_key = self._box().seal(new.api_key)
            elif new.forget_api_key:
                row.api_key = None
            row.provider = new.provider
            row.base_url = new.base_url
            row.planner_model = new.planner_model
            row.coder_model = new.coder_model if new.coder_model != new.planner_model else None
            row.limits = new.limits.model_dump(mode="json")
        return await self.view()

    def _key(self, row: ModelSettingsRow) -> str | None:
        if row.api_key is None:
            return None
        try:
            return self._box().open(row.api_key)
        except SecretUnreadable:
            return None

    def _saved(self, row: ModelSettingsRow | None) -> _Saved | None:
        if row is None:
            return None
        return _Saved(
            provider=_PROVIDER.validate_python(row.provider),
            base_url=row.base_url,
            planner_model=row.planner_model,
            coder_model=row.coder_model,
            api_key=self._key(row),
            limits=RunBudget.model_validate(row.limits),
        )

    def _out(self, row: ModelSettingsRow | None) -> ModelSettingsOut:
        saved = self._saved(row)
        key = saved.api_key if saved is not None else None
        return ModelSettingsOut(
            provider=saved.provider if saved else None,
            base_url=saved.base_url if saved else None,
            planner_model=saved.planner_model if saved else None,
            coder_model=saved.coder_model if saved else None,
            api_key=SavedKey(
                set=row is not None and row.api_key is not None,
                last4=key[-4:] if key is not None and len(key) >= 12 else None,
                readable=row is None or row.api_key is None or key is not None,
            ),
            limits=combine(self._settings, saved).budget,
            environment=_environment(self._settings),
            saved_at=row.updated_at if row else None,
        )
