"""SwiftAI's settings: one typed model for the bot and the training CLI, and the home layout.

`python -m bot` and `python -m training` each call `Settings.load()` once: pydantic-settings
reads the environment, then `.env` in the working folder (a variable set in both: the
environment's wins); everything else receives the values it needs. `Settings.from_env(mapping)`
reads the given mapping alone (tests stay hermetic). An empty value counts as unset. Every missing
or invalid key is listed in one `ConfigError`.

Importing this module loads no model code: the checks that need the engine's names (its
backends, an artist's folder name) import them when they run.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_ARTIST = "Taylor Swift"
SECRETS = frozenset({"DISCORD_TOKEN", "GENIUS_ACCESS_TOKEN", "INFERENCE_API_KEY"})  # never shown

# pydantic's words for the common mistakes, said shorter.
PLAIN = {"int_parsing": "is not a whole number", "int_from_float": "is not a whole number",
         "float_parsing": "is not a number", "greater_than_equal": "must be at least {ge}"}
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")  # LOG_LEVEL's choices
# A comma- or space-separated list in one variable, parsed by its validator (not as JSON).
Listed = Annotated[tuple[str, ...], NoDecode]


class ConfigError(Exception):
    """One or more settings are missing or invalid; the message lists them all."""


class Settings(BaseSettings):
    # Each setting is read from the variable of its name in capitals (QUEUE_SIZE for
    # queue_size); an alias names the few whose variable is spelled otherwise.
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False,
                                      env_ignore_empty=True, env_file=".env",
                                      env_file_encoding="utf-8", hide_input_in_errors=True)

    # ---- Both packages ----
    home: Path = Field(Path("var"), validation_alias="SWIFTAI_HOME")  # data/, models/, the db
    artist: str = Field(DEFAULT_ARTIST, validation_alias="SWIFTAI_ARTIST")  # no --artist given
    # The artists the bot serves, the default first; unset: SWIFTAI_ARTIST alone. Without
    # SWIFTAI_ARTIST, the first of them is also the CLI's default.
    artists_listed: Listed = Field((), validation_alias="SWIFTAI_ARTISTS")
    base_model: str = "gpt2"  # hub id or local folder
    # ---- Training: Genius ----
    genius_token: str | None = Field(None, validation_alias="GENIUS_ACCESS_TOKEN", repr=False)
    genius_base_url: str | None = None  # a mirror
    # Votes before a run learns from them (ranking weights, preference tuning). On simulated
    # listeners the fitted weights' held-out accuracy stops improving near 200
    # (benchmarks/feedback.py --votes-curve); below it the default ranking is kept.
    feedback_min_votes: int = Field(200, ge=1)
    # ---- Serving ----
    # SERVING_BACKEND: auto, transformers, ctranslate2, openvino or openai
    # (model.serving.backends.CHOICES)
    serving_backend: str = "auto"
    ct2_compute_type: str | None = None  # None: auto
    ct2_threads: int | None = Field(None, ge=1)  # None: cores - 1
    ov_threads: int | None = Field(None, ge=1)  # None: OpenVINO's choice (all cores)
    # optimum-cli of a venv with optimum-intel (.ci/openvino builds .venv-ov): publish and
    # convert write an OpenVINO IR too; None: they write none
    openvino_exporter: str | None = None
    inference_urls: Listed = Field((), validation_alias="INFERENCE_URL")  # openai backend
    inference_api_key: str | None = Field(None, repr=False)
    inference_model: str | None = None  # None: the first a server lists
    # Each artist's model name on the servers (a LoRA adapter or a merged model), by slug:
    # INFERENCE_MODELS=taylor-swift=ts-lora,juniper-vale=jv-lora; an artist missing takes
    # INFERENCE_MODEL.
    inference_models: Annotated[dict[str, str], NoDecode] = {}
    inference_timeout: float = Field(120.0, ge=1)  # seconds
    queue_size: int = Field(64, ge=1)  # more waiting get "busy"
    max_batch: int = Field(24, ge=1)  # rows generated together
    candidates: int = Field(3, ge=1)  # samples per step
    batch_window_ms: float = Field(15.0, ge=0)  # least wait for the last batch's callers
    request_timeout: float = Field(120.0, ge=1)  # seconds in the queue
    prompt_max_chars: int = Field(200, ge=10)
    # ---- The Discord bot ----
    discord_token: str | None = Field(None, repr=False)
    discord_client_id: int | None = None  # for the invite link
    # may /retrain besides Manage Server
    admin_user_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    cooldown_seconds: float = Field(10.0, ge=0)  # per user
    vote_cooldown_seconds: float = Field(1.0, ge=0)  # per web client (address), between votes
    # days every candidate a ranking weighed is kept; then only the kept (shown) ones stay
    candidate_retention_days: int = Field(30, ge=1)
    retrain_args: Listed = ()  # for `training run`
    discord_api_base: str | None = None  # a proxy
    discord_gateway_url: str | None = None
    shard_count: int | None = Field(None, ge=0)  # None: Discord's recommendation
    # the shards this process runs (empty: all)
    shard_ids: Annotated[tuple[int, ...], NoDecode] = ()
    log_level: str = "INFO"  # python -m bot's logging
    # ---- The web page ----
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=0)
    # proxies whose X-Forwarded-For / Forwarded say who the client is (uvicorn's setting):
    # addresses or networks, or * for any; empty: the header is ignored
    forwarded_allow_ips: Listed = ()

    @classmethod
    def load(cls) -> Settings:
        """Read the environment and `.env`, reporting every invalid key in one error."""
        return _checked(cls)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read `environ` alone, as if it were the whole environment and there were no `.env`;
        report every invalid key in one error."""
        return _checked(lambda: Given(**{k: v for k, v in environ.items() if v != ""}))

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Return the environment variable each setting is read from, by setting."""
        return {name: str(field.validation_alias or name).upper()
                for name, field in cls.model_fields.items()}

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
            first = next(iter(_items(values["SWIFTAI_ARTISTS"])), None)
            return {**values, "SWIFTAI_ARTIST": first} if first else values
        return values

    @field_validator("artists_listed", mode="before")
    @classmethod
    def _artist_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        names = _items(value)
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
        for part in _items(value):
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
        from model.serving.backends import CHOICES

        return _one_of(str(value).strip().lower(), CHOICES)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return _one_of(str(value).strip().upper(), LEVELS)

    @field_validator("inference_urls", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        urls = tuple(u.rstrip("/") for u in _items(value))
        bad = [u for u in urls if not re.match(r"https?://[^/\s]+.*/v1$", u)]
        if bad:
            raise ValueError(f"has {bad[0]!r}, not an http(s) URL ending in /v1")
        return urls

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _proxies(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        items = _items(value)
        for item in (i for i in items if i != "*"):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"has {item!r}, not an IP address, a network or *") from None
        return items

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
        from model.serving.backends import is_remote

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


class Given(Settings):
    """Settings read from the values passed in, alone (`Settings.from_env`)."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   *others: PydanticBaseSettingsSource,
                                   **named: PydanticBaseSettingsSource
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # neither os.environ nor .env


def _checked(make: Callable[[], Settings]) -> Settings:
    """Build settings with `make`, turning pydantic's errors into one ConfigError."""
    try:
        return make()
    except ValidationError as e:
        raise ConfigError("invalid settings: " + "; ".join(_describe(e))) from None


def _one_of(name: str, choices: tuple[str, ...]) -> str:
    """Return `name` if it is one of `choices`; a ValueError listing them if not."""
    if name not in choices:
        raise ValueError(f"is not one of {', '.join(choices)}")
    return name


def _items(text: str) -> tuple[str, ...]:
    """Split a comma-separated setting into its items, stripped, empty ones dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


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
    variables = Settings.variables()
    lines = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if not item["loc"]:  # a check across keys words its own message
            lines.append(message)
            continue
        key = str(item["loc"][0])
        key = variables.get(key, key.upper())
        raw = item.get("input")
        shown = "" if key in SECRETS or not isinstance(raw, str) else f"={raw!r}"
        message = PLAIN.get(item["type"], message).format(**item.get("ctx", {}))
        # Our messages read on from the value ("is not a URL"); pydantic's others do not.
        glue = " " if item["type"] in PLAIN or item["type"] == "value_error" else ": "
        lines.append(f"{key}{shown}{glue}{message}")
    return lines


def _folder(name: str) -> str:
    """Return an artist's folder name; a ValueError (a settings problem) if it has none."""
    from model.errors import RegistryError
    from model.registry.runs import slug

    try:
        return slug(name)
    except RegistryError as e:
        raise ValueError(str(e)) from None


def slugify(name: str) -> str:
    """Turn an artist name into a folder name: 'Taylor Swift' -> 'taylor-swift'."""
    try:
        return _folder(name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
