"""From lyrics to training blocks: Genius, lyrics files, the song cache, cleaning, the corpus."""
