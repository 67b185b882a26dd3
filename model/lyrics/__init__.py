"""What lyrics are, read from text alone: the song document, style, rhyme, song form."""
