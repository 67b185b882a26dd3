"""The training CLI's settings, read once from the environment (and `.env`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from training.errors import ConfigError

DEFAULT_ARTIST = "Taylor Swift"
# Votes before a run learns from them (ranking weights, preference tuning). On simulated
# listeners the fitted weights' held-out accuracy stops improving near this many
# (benchmarks/feedback.py --votes-curve); below it the default ranking is kept.
DEFAULT_MIN_VOTES = 100


@dataclass(frozen=True)
class Settings:
    home: Path  # SWIFTAI_HOME: one folder holds data/, models/ and the database
    artist: str  # SWIFTAI_ARTIST: used when a command gets no --artist
    genius_token: str | None  # GENIUS_ACCESS_TOKEN: needed by `fetch` only
    genius_base_url: str | None  # GENIUS_BASE_URL: a mirror or test server instead of genius.com
    base_model: str  # BASE_MODEL: hub id or local folder that fine-tuning starts from
    feedback_min_votes: int = DEFAULT_MIN_VOTES  # FEEDBACK_MIN_VOTES: votes before learning

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from `env`, reporting every invalid key in one error."""
        problems = []
        home = Path(env.get("SWIFTAI_HOME") or "var")
        if home.exists() and not home.is_dir():
            problems.append(f"SWIFTAI_HOME={home} exists and is not a folder")
        artist = (env.get("SWIFTAI_ARTIST") or DEFAULT_ARTIST).strip()
        if not artist:
            problems.append("SWIFTAI_ARTIST is blank")
        base_url = env.get("GENIUS_BASE_URL") or None
        if base_url and not re.match(r"https?://[^/\s]+", base_url):
            problems.append(f"GENIUS_BASE_URL={base_url!r} is not an http(s) URL")
        min_votes = env.get("FEEDBACK_MIN_VOTES") or str(DEFAULT_MIN_VOTES)
        if not min_votes.strip().isdigit() or int(min_votes) < 1:
            problems.append(f"FEEDBACK_MIN_VOTES={min_votes!r} is not a whole number >= 1")
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))
        return cls(
            home=home,
            artist=artist,
            genius_token=env.get("GENIUS_ACCESS_TOKEN") or None,
            genius_base_url=base_url.rstrip("/") if base_url else None,
            base_model=env.get("BASE_MODEL") or "gpt2",
            feedback_min_votes=int(min_votes),
        )

    def require_genius_token(self) -> str:
        """Return the Genius token, or explain where to get one."""
        if not self.genius_token:
            raise ConfigError(
                "GENIUS_ACCESS_TOKEN is not set: create a client at "
                "https://genius.com/api-clients and put its access token in .env "
                "(see .env.example)"
            )
        return self.genius_token

    def raw_dir(self, artist: str) -> Path:
        """Return the song cache folder of `artist`."""
        return self.home / "data" / "raw" / slugify(artist)

    @property
    def models_dir(self) -> Path:
        """Return the folder of the model registry."""
        return self.home / "models"

    @property
    def cache_dir(self) -> Path:
        """Return the folder of caches (the base model's CTranslate2 conversion)."""
        return self.home / "cache"

    def corpus_dir(self, artist: str) -> Path:
        """Return the default corpus folder of `artist`."""
        return self.home / "data" / "corpus" / slugify(artist)


def slugify(name: str) -> str:
    """Turn an artist name into a folder name: 'Taylor Swift' -> 'taylor-swift'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    if not slug:
        raise ConfigError(f"artist name {name!r} has no letters or digits to name a folder with")
    return slug
