"""SwiftAI's settings: one typed model for the bot and the training CLI, and the home layout.

`python -m bot` and `python -m training` each load `.env` once and call
`Settings.from_env(os.environ)`; everything else receives the values it needs. The model reads
only the mapping it is given (never `os.environ` behind a caller's back), so tests are hermetic.
An empty value counts as unset. Every missing or invalid key is listed in one `ConfigError`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from model.backends import CHOICES as BACKENDS
from model.backends import is_remote
from model.errors import RegistryError
from model.registry import slug

DEFAULT_ARTIST = "Taylor Swift"
SECRETS = frozenset({"DISCORD_TOKEN", "GENIUS_ACCESS_TOKEN", "INFERENCE_API_KEY"})  # never shown

# pydantic's words for the common mistakes, said shorter.
PLAIN = {"int_parsing": "is not a whole number", "int_from_float": "is not a whole number",
         "float_parsing": "is not a number", "greater_than_equal": "must be at least {ge}"}
# A comma- or space-separated list in one variable, parsed by its validator (not as JSON).
Listed = Annotated[tuple[str, ...], NoDecode]


class ConfigError(Exception):
    """One or more settings are missing or invalid; the message lists them all."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False,
                                      env_ignore_empty=True, hide_input_in_errors=True)

    # ---- Both packages ----
    home: Path = Field(Path("var"), validation_alias="SWIFTAI_HOME")  # data/, models/, the db
    artist: str = Field(DEFAULT_ARTIST, validation_alias="SWIFTAI_ARTIST")  # no --artist given
    # The artists the bot serves, the default first; unset: SWIFTAI_ARTIST alone. Without
    # SWIFTAI_ARTIST, the first of them is also the CLI's default.
    artists_listed: Listed = Field((), validation_alias="SWIFTAI_ARTISTS")
    base_model: str = Field("gpt2", validation_alias="BASE_MODEL")  # hub id or local folder
    # ---- Training: Genius ----
    genius_token: str | None = Field(None, validation_alias="GENIUS_ACCESS_TOKEN", repr=False)
    genius_base_url: str | None = Field(None, validation_alias="GENIUS_BASE_URL")  # a mirror
    # Votes before a run learns from them (ranking weights, preference tuning). On simulated
    # listeners the fitted weights' held-out accuracy stops improving near 200
    # (benchmarks/feedback.py --votes-curve); below it the default ranking is kept.
    feedback_min_votes: int = Field(200, ge=1, validation_alias="FEEDBACK_MIN_VOTES")
    # ---- Serving ----
    # SERVING_BACKEND: auto, transformers, ctranslate2 or openai (model.backends.CHOICES)
    serving_backend: str = Field("auto", validation_alias="SERVING_BACKEND")
    ct2_compute_type: str | None = Field(None, validation_alias="CT2_COMPUTE_TYPE")  # None: auto
    ct2_threads: int | None = Field(None, ge=1, validation_alias="CT2_THREADS")  # None: cores - 1
    inference_urls: Listed = Field((), validation_alias="INFERENCE_URL")  # openai backend
    inference_api_key: str | None = Field(None, validation_alias="INFERENCE_API_KEY", repr=False)
    inference_model: str | None = Field(None, validation_alias="INFERENCE_MODEL")  # None: first
    # Each artist's model name on the servers (a LoRA adapter or a merged model), by slug:
    # INFERENCE_MODELS=taylor-swift=ts-lora,juniper-vale=jv-lora; an artist missing takes
    # INFERENCE_MODEL.
    inference_models: Annotated[dict[str, str], NoDecode] = Field(
        {}, validation_alias="INFERENCE_MODELS")
    inference_timeout: float = Field(120.0, ge=1, validation_alias="INFERENCE_TIMEOUT")  # s
    queue_size: int = Field(64, ge=1, validation_alias="QUEUE_SIZE")  # more waiting get "busy"
    max_batch: int = Field(24, ge=1, validation_alias="MAX_BATCH")  # rows generated together
    candidates: int = Field(3, ge=1, validation_alias="CANDIDATES")  # samples per step
    batch_window_ms: float = Field(15.0, ge=0, validation_alias="BATCH_WINDOW_MS")  # wait
    request_timeout: float = Field(120.0, ge=1, validation_alias="REQUEST_TIMEOUT")  # in queue
    prompt_max_chars: int = Field(200, ge=10, validation_alias="PROMPT_MAX_CHARS")
    # ---- The Discord bot ----
    discord_token: str | None = Field(None, validation_alias="DISCORD_TOKEN", repr=False)
    discord_client_id: int | None = Field(None, validation_alias="DISCORD_CLIENT_ID")  # invite
    admin_user_ids: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), validation_alias="ADMIN_USER_IDS")  # may /retrain besides Manage Server
    cooldown_seconds: float = Field(10.0, ge=0, validation_alias="COOLDOWN_SECONDS")  # per user
    # per web client (address), between two votes
    vote_cooldown_seconds: float = Field(1.0, ge=0, validation_alias="VOTE_COOLDOWN_SECONDS")
    # days every candidate a ranking weighed is kept; then only the kept (shown) ones stay
    candidate_retention_days: int = Field(30, ge=1, validation_alias="CANDIDATE_RETENTION_DAYS")
    retrain_args: Listed = Field((), validation_alias="RETRAIN_ARGS")  # for `training run`
    discord_api_base: str | None = Field(None, validation_alias="DISCORD_API_BASE")  # a proxy
    discord_gateway_url: str | None = Field(None, validation_alias="DISCORD_GATEWAY_URL")
    shard_count: int | None = Field(None, ge=0, validation_alias="SHARD_COUNT")  # None: Discord's
    shard_ids: Annotated[tuple[int, ...], NoDecode] = Field(
        (), validation_alias="SHARD_IDS")  # the shards this process runs (empty: all)
    # ---- The web page ----
    web_host: str = Field("127.0.0.1", validation_alias="WEB_HOST")
    web_port: int = Field(8080, ge=0, validation_alias="WEB_PORT")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Any,
                                   **others: Any) -> tuple[Any, ...]:
        # Only what from_env passes in: no hidden read of os.environ or of a .env file.
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from `environ`, reporting every invalid key in one error."""
        values = _Environment(cls, environ)()
        try:
            return cls(**values)
        except ValidationError as e:
            raise ConfigError("invalid settings: " + "; ".join(_describe(e))) from None

    # ---- The home layout: every path below SWIFTAI_HOME is named here, once ----
    @property
    def artists(self) -> tuple[str, ...]:
        """Return the artists the bot serves, the default first (SWIFTAI_ARTISTS)."""
        return self.artists_listed or (self.artist,)

    @property
    def database(self) -> Path:
        """Return the path of the SQLite database."""
        return self.home / "swiftai.db"

    @property
    def cache_dir(self) -> Path:
        """Return the folder of caches (the base model's CTranslate2 conversion)."""
        return self.home / "cache"

    @property
    def models_dir(self) -> Path:
        """Return the folder of the model registry."""
        return self.home / "models"

    @property
    def base_dir(self) -> Path:
        """Return the folder of local base models (`training make-base`)."""
        return self.home / "base"

    def raw_dir(self, artist: str) -> Path:
        """Return the song cache folder of `artist`."""
        return self.home / "data" / "raw" / slugify(artist)

    def corpus_dir(self, artist: str) -> Path:
        """Return the default corpus folder of `artist`."""
        return self.home / "data" / "corpus" / slugify(artist)

    def require_genius_token(self) -> str:
        """Return the Genius token, or explain where to get one."""
        if not self.genius_token:
            raise ConfigError(
                "GENIUS_ACCESS_TOKEN is not set: create a client at "
                "https://genius.com/api-clients and put its access token in .env "
                "(see .env.example)"
            )
        return self.genius_token

    # ---- Checks (a ValueError's message becomes the key's line in the error) ----
    @field_validator("home")
    @classmethod
    def _home_is_a_folder(cls, home: Path) -> Path:
        if home.exists() and not home.is_dir():
            raise ValueError("exists and is not a folder")
        return home

    @field_validator("artist", "discord_token", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("artist")
    @classmethod
    def _artist_not_blank(cls, artist: str) -> str:
        if not artist:
            raise ValueError("is blank")
        return artist

    @model_validator(mode="before")
    @classmethod
    def _artist_from_the_list(cls, values: Any) -> Any:
        """Without SWIFTAI_ARTIST, the CLI's default artist is the first one served."""
        if isinstance(values, dict) and not values.get("SWIFTAI_ARTIST") and \
                isinstance(values.get("SWIFTAI_ARTISTS"), str):
            first = next((a.strip() for a in values["SWIFTAI_ARTISTS"].split(",") if a.strip()),
                         None)
            return {**values, "SWIFTAI_ARTIST": first} if first else values
        return values

    @field_validator("artists_listed", mode="before")
    @classmethod
    def _artist_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        names = tuple(a.strip() for a in value.split(",") if a.strip())
        seen: dict[str, str] = {}
        for name in names:
            folder = _folder(name)  # a name with no letters is refused here
            if folder in seen:
                raise ValueError(f"names {seen[folder]!r} and {name!r}, which share the "
                                 f"folder {folder!r}")
            seen[folder] = name
        return names

    @field_validator("inference_models", mode="before")
    @classmethod
    def _model_names(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        names: dict[str, str] = {}
        for part in (p.strip() for p in value.split(",") if p.strip()):
            artist, equals, model = part.partition("=")
            if not equals or not artist.strip() or not model.strip():
                raise ValueError(f"has {part!r}, not artist=model-name")
            names[_folder(artist.strip())] = model.strip()
        return names

    @field_validator("genius_base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url and not re.match(r"https?://[^/\s]+", url):
            raise ValueError("is not an http(s) URL")
        return url.rstrip("/") if url else None

    @field_validator("discord_api_base", "discord_gateway_url")
    @classmethod
    def _discord_url(cls, url: str | None) -> str | None:
        if url and not re.match(r"(https?|wss?)://", url):
            raise ValueError("is not a URL")
        return url

    @field_validator("discord_client_id", mode="before")
    @classmethod
    def _application_id(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().isdigit():
            raise ValueError("is not an application id")
        return value

    @field_validator("serving_backend", mode="before")
    @classmethod
    def _backend(cls, value: Any) -> Any:
        name = str(value).strip().lower()
        if name not in BACKENDS:
            raise ValueError(f"is not one of {', '.join(BACKENDS)}")
        return name

    @field_validator("inference_urls", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        urls = tuple(u.strip().rstrip("/") for u in value.split(",") if u.strip())
        bad = [u for u in urls if not re.match(r"https?://[^/\s]+.*/v1$", u)]
        if bad:
            raise ValueError(f"has {bad[0]!r}, not an http(s) URL ending in /v1")
        return urls

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _user_ids(cls, value: Any) -> Any:
        return _numbers(value, "a Discord user id")

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_ids(cls, value: Any) -> Any:
        numbers = _numbers(value, "a shard number")
        return tuple(sorted(set(numbers))) if isinstance(value, str) else value

    @field_validator("shard_count")
    @classmethod
    def _no_zero_shards(cls, count: int | None) -> int | None:
        return count or None  # 0 means "Discord's recommendation", as unset does

    @field_validator("retrain_args", mode="before")
    @classmethod
    def _split_args(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return tuple(shlex.split(value))
        except ValueError as e:
            raise ValueError(f"cannot be split: {e}") from None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = []
        if self.shard_ids and self.shard_count is None:
            problems.append("SHARD_IDS needs SHARD_COUNT: how many shards there are in all")
        elif self.shard_count and any(i >= self.shard_count for i in self.shard_ids):
            problems.append(f"SHARD_IDS must be below SHARD_COUNT={self.shard_count}")
        if is_remote(self.serving_backend) and not self.inference_urls:
            problems.append(f"SERVING_BACKEND={self.serving_backend} needs INFERENCE_URL (one "
                            "or more base URLs ending in /v1, comma-separated)")
        served = {slugify(a): a for a in self.artists}
        unknown = [name for name in self.inference_models if name not in served]
        if unknown:
            problems.append(f"INFERENCE_MODELS names {', '.join(unknown)}, not among the "
                            f"artists served ({', '.join(served)}; SWIFTAI_ARTISTS)")
        missing = [a for folder, a in served.items() if folder not in self.inference_models]
        if is_remote(self.serving_backend) and len(served) > 1 and missing and \
                not self.inference_model:
            problems.append(f"SERVING_BACKEND={self.serving_backend} serving several artists "
                            "needs each one's model name on the servers: INFERENCE_MODELS="
                            f"{','.join(slugify(a) + '=NAME' for a in missing)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty,
                              self.env_parse_none_str)


def _numbers(value: Any, what: str) -> Any:
    """Parse '1, 2 3' into (1, 2, 3), naming the first part that is not a number."""
    if not isinstance(value, str):
        return value
    parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
    bad = [p for p in parts if not p.isdigit()]
    if bad:
        raise ValueError(f"has {bad[0]!r}, not {what}")
    return tuple(int(p) for p in parts)


def _describe(error: ValidationError) -> list[str]:
    """Turn pydantic's errors into one short phrase per key, naming the variable."""
    aliases = {name: field.validation_alias for name, field in Settings.model_fields.items()}
    lines = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:  # a check across keys words its own message
            lines.append(message)
            continue
        key = str(item["loc"][0])
        key = str(aliases.get(key, key)).upper()
        raw = item.get("input")
        shown = "" if key in SECRETS or not isinstance(raw, str) else f"={raw!r}"
        message = PLAIN.get(item["type"], message).format(**item.get("ctx", {}))
        # Our messages read on from the value ("is not a URL"); pydantic's others do not.
        glue = " " if item["type"] in PLAIN or item["type"] == "value_error" else ": "
        lines.append(f"{key}{shown}{glue}{message}")
    return lines


def _folder(name: str) -> str:
    """Return an artist's folder name; a ValueError (a settings problem) if it has none."""
    try:
        return slug(name)
    except RegistryError as e:
        raise ValueError(str(e)) from None


def slugify(name: str) -> str:
    """Turn an artist name into a folder name: 'Taylor Swift' -> 'taylor-swift'."""
    try:
        return slug(name)
    except RegistryError as e:
        raise ConfigError(str(e)) from None
