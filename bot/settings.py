"""The bot's settings, read once from the environment (and `.env`) by `python -m bot`."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model.backends import CHOICES as BACKENDS


class ConfigError(Exception):
    """One or more settings are missing or invalid; the message lists them all."""


@dataclass(frozen=True)
class Settings:
    discord_token: str | None  # DISCORD_TOKEN: without it only the web page runs
    discord_client_id: int | None  # DISCORD_CLIENT_ID: for the invite link (else from the token)
    admin_user_ids: frozenset[int]  # ADMIN_USER_IDS: may /retrain besides Manage Server members
    home: Path  # SWIFTAI_HOME: data/, models/ and swiftai.db live here
    base_model: str  # BASE_MODEL: served until a fine-tuned model is published
    serving_backend: str  # SERVING_BACKEND: auto, transformers or ctranslate2
    ct2_compute_type: str | None  # CT2_COMPUTE_TYPE: None picks int8 on CPU, float16 on CUDA
    inference_urls: tuple[str, ...]  # INFERENCE_URL: OpenAI-compatible servers (openai backend)
    inference_api_key: str | None  # INFERENCE_API_KEY: a secret, never logged
    inference_model: str | None  # INFERENCE_MODEL: None takes the first one a server lists
    inference_timeout: float  # INFERENCE_TIMEOUT: seconds per remote request
    cooldown_seconds: float  # COOLDOWN_SECONDS: per user, between two /lyrics
    vote_cooldown_seconds: float  # VOTE_COOLDOWN_SECONDS: per web client, between two votes
    candidate_retention_days: int  # CANDIDATE_RETENTION_DAYS: then only the kept ones stay
    queue_size: int  # QUEUE_SIZE: requests waiting at most; more get "busy"
    max_batch: int  # MAX_BATCH: rows (candidate samples) generated together
    candidates: int  # CANDIDATES: samples written per step, the best kept
    batch_window_ms: float  # BATCH_WINDOW_MS: how long a request may wait for company
    request_timeout: float  # REQUEST_TIMEOUT: seconds a request may wait in the queue
    prompt_max_chars: int  # PROMPT_MAX_CHARS
    retrain_args: tuple[str, ...]  # RETRAIN_ARGS: extra arguments for `training run`
    discord_api_base: str | None  # DISCORD_API_BASE: a REST proxy (or a test server)
    discord_gateway_url: str | None  # DISCORD_GATEWAY_URL
    web_host: str  # WEB_HOST
    web_port: int  # WEB_PORT
    shard_count: int | None  # SHARD_COUNT: None takes Discord's recommendation
    shard_ids: tuple[int, ...]  # SHARD_IDS: the shards this process runs (empty: all of them)

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

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from `env`, reporting every invalid key in one error."""
        problems: list[str] = []

        def number(key: str, default: float, kind: type = float, low: float = 0) -> float:
            raw = env.get(key, "").strip()
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                problems.append(f"{key}={raw!r} is not a {kind.__name__}")
                return default
            if value < low:
                problems.append(f"{key}={raw!r} must be at least {low}")
            return value

        admins: set[int] = set()
        for part in re.split(r"[,\s]+", env.get("ADMIN_USER_IDS", "").strip()):
            if part and not part.isdigit():
                problems.append(f"ADMIN_USER_IDS has {part!r}, not a Discord user id")
            elif part:
                admins.add(int(part))
        client_id = env.get("DISCORD_CLIENT_ID", "").strip()
        if client_id and not client_id.isdigit():
            problems.append(f"DISCORD_CLIENT_ID={client_id!r} is not an application id")
        for key in ("DISCORD_API_BASE", "DISCORD_GATEWAY_URL"):
            value = env.get(key, "")
            if value and not re.match(r"(https?|wss?)://", value):
                problems.append(f"{key}={value!r} is not a URL")
        backend = (env.get("SERVING_BACKEND") or "auto").strip().lower()
        if backend not in BACKENDS:
            problems.append(f"SERVING_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}")
        shard_ids: list[int] = []
        for part in re.split(r"[,\s]+", env.get("SHARD_IDS", "").strip()):
            if part and not part.isdigit():
                problems.append(f"SHARD_IDS has {part!r}, not a shard number")
            elif part:
                shard_ids.append(int(part))
        shard_count = int(number("SHARD_COUNT", 0, int, 0)) or None
        if shard_ids and shard_count is None:
            problems.append("SHARD_IDS needs SHARD_COUNT: how many shards there are in all")
        elif shard_count and any(i >= shard_count for i in shard_ids):
            problems.append(f"SHARD_IDS must be below SHARD_COUNT={shard_count}")
        urls = tuple(u.strip().rstrip("/") for u in env.get("INFERENCE_URL", "").split(",")
                     if u.strip())
        for url in urls:
            if not re.match(r"https?://[^/\s]+.*/v1$", url):
                problems.append(f"INFERENCE_URL has {url!r}, not an http(s) URL ending in /v1")
        if backend == "openai" and not urls:
            problems.append("SERVING_BACKEND=openai needs INFERENCE_URL (one or more base URLs "
                            "ending in /v1, comma-separated)")
        try:
            retrain_args = tuple(shlex.split(env.get("RETRAIN_ARGS", "")))
        except ValueError as e:
            problems.append(f"RETRAIN_ARGS cannot be split: {e}")
            retrain_args = ()
        settings = cls(
            discord_token=env.get("DISCORD_TOKEN", "").strip() or None,
            discord_client_id=int(client_id) if client_id.isdigit() else None,
            admin_user_ids=frozenset(admins),
            home=Path(env.get("SWIFTAI_HOME") or "var"),
            base_model=env.get("BASE_MODEL") or "gpt2",
            serving_backend=backend,
            ct2_compute_type=env.get("CT2_COMPUTE_TYPE") or None,
            inference_urls=urls,
            inference_api_key=env.get("INFERENCE_API_KEY") or None,
            inference_model=env.get("INFERENCE_MODEL") or None,
            inference_timeout=number("INFERENCE_TIMEOUT", 120.0, float, 1),
            cooldown_seconds=number("COOLDOWN_SECONDS", 10.0),
            vote_cooldown_seconds=number("VOTE_COOLDOWN_SECONDS", 1.0),
            candidate_retention_days=int(number("CANDIDATE_RETENTION_DAYS", 30, int, 1)),
            queue_size=int(number("QUEUE_SIZE", 64, int, 1)),
            max_batch=int(number("MAX_BATCH", 24, int, 1)),
            candidates=int(number("CANDIDATES", 3, int, 1)),
            batch_window_ms=number("BATCH_WINDOW_MS", 15.0),
            request_timeout=number("REQUEST_TIMEOUT", 120.0, float, 1),
            prompt_max_chars=int(number("PROMPT_MAX_CHARS", 200, int, 10)),
            retrain_args=retrain_args,
            discord_api_base=env.get("DISCORD_API_BASE") or None,
            discord_gateway_url=env.get("DISCORD_GATEWAY_URL") or None,
            web_host=env.get("WEB_HOST") or "127.0.0.1",
            web_port=int(number("WEB_PORT", 8080, int, 0)),
            shard_count=shard_count,
            shard_ids=tuple(sorted(set(shard_ids))),
        )
        if settings.home.exists() and not settings.home.is_dir():
            problems.append(f"SWIFTAI_HOME={settings.home} exists and is not a folder")
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))
        return settings
