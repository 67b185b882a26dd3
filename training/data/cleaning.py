"""Turn scraped Genius lyrics into clean text, and recognise what is not a song.

Each rule is one small function so that a test can pin it down; `clean_lyrics` applies them in
order; the tests show each kind of junk as Genius serves it. Section headers are kept as
normalised structure lines (`[Verse]`, `[Chorus]`, ...) because they teach the model song shape.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import ftfy
from confusable_homoglyphs import categories, confusables

from model.lyrics.songtext import QUOTES

# Spaces Genius pages carry (four-per-em, medium mathematical, no-break, thin, ...) -> " ".
_ODD_SPACES = dict.fromkeys(map(ord, "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                                     "\u2008\u2009\u200a\u202f\u205f\u3000\t"), " ")
# Zero-width and direction marks -> removed.
_INVISIBLES = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"), None)

# Canonical section names, and the words (English and common localized ones) that map to them.
_SECTIONS = {
    "Intro": ["intro", "introduction", "introducción", "introduzione"],
    "Verse": ["verse", "strophe", "couplet", "verso", "estrofa", "strofa"],
    "Pre-Chorus": ["pre-chorus", "prechorus", "pre chorus", "pré-refrain", "pre-coro",
                   "pre-estribillo", "pre-refrain"],
    "Chorus": ["chorus", "hook", "refrain", "coro", "estribillo", "ritornello", "ritornell"],
    "Post-Chorus": ["post-chorus", "postchorus", "post chorus", "post-coro", "post-refrain"],
    "Bridge": ["bridge", "puente", "pont", "ponte", "brücke", "bridge/outro"],
    "Interlude": ["interlude", "interludio", "break", "breakdown"],
    "Outro": ["outro", "coda"],
}
_SECTION_OF = {word: name for name, words in _SECTIONS.items() for word in words}
SECTION_HEADERS = frozenset(f"[{name}]" for name in _SECTIONS)

# Headers can list many performers: "[Bridge: A, B & C, A & C, (B), All]" runs past 100.
_BRACKETED = re.compile(r"\[([^\[\]\n]{0,200})\]")
_CONTRIBUTORS = re.compile(r"^\s*\d*\s*Contributors?\b")
_TITLE_LYRICS = re.compile(r"^.{0,200}? Lyrics(?=\[|\s*$|[A-Z\"'(])")
_READ_MORE = re.compile(r"Read More\s*")
_EMBED = re.compile(r"\d*\s*Embed(?:Share URLCopyEmbedCopy)?\s*$")
_TICKETS = re.compile(r"See [^\n\[]{1,80}? ?LiveGet tickets as low as \$[\d.,]+")
_MIGHT_LIKE = re.compile(r"You might also like")
_RELATED = re.compile(r"Related Songs[^\n\[]*")


# Letters, with the apostrophes and hyphens inside a word: "I'm" is one word, not "I" and "m".
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
_LOOK_ALIKE_SCRIPTS = ("CYRILLIC", "GREEK")


# Which letter a look-alike stands for comes from Unicode's own confusables data (UTS #39),
# read through confusable-homoglyphs (MIT; ships confusables.txt and the script of every code
# point). Transliterators (anyascii, unidecode) answer by sound, not shape: Cyrillic er, u, ha
# become r, u, kh where the watermark means p, y, x. ftfy repairs encodings and leaves
# look-alikes alone; homoglyphs (last release 2020) and confusables (2021) enumerate every
# spelling of a whole string rather than map a letter.
def _ascii_twin(char: str) -> str | None:
    """Return the one ASCII letter Unicode's confusables data draws `char` like, or None."""
    for found in confusables.is_confusable(char, preferred_aliases=["latin"]) or ():
        for glyph in found["homoglyphs"]:
            if len(glyph["c"]) == 1 and glyph["c"].isascii() and glyph["c"].isalpha():
                return glyph["c"]
    return None


@functools.cache
def latin_twin(char: str) -> str | None:
    """Return the Latin letter a Cyrillic or Greek look-alike stands for (U+0435: 'e'), or None."""
    if categories.alias(char) not in _LOOK_ALIKE_SCRIPTS:
        return None
    twin = _ascii_twin(char)
    if twin is not None and twin.isupper() != char.isupper():
        # UTS #39 draws capital I as small l (its prototype for both); ask of the small letter.
        small = _ascii_twin(char.lower()) if char.isupper() else None
        twin = small.upper() if small else None
    return twin


def _is_latin(char: str) -> bool:
    return char.isascii() or categories.alias(char) == "LATIN"


def fold_look_alikes(text: str) -> str:
    """Write Genius's look-alike watermark ("whenever" with a Cyrillic e) in Latin letters.

    A word that mixes Latin letters with look-alikes ("they" with a Cyrillic e, "I'm" with a
    Cyrillic I) is folded, and so is a lone look-alike letter (a Cyrillic a for "a") in a line of
    Latin words with no real Cyrillic or Greek word in it (one with a letter that has no Latin
    twin). Any longer word wholly in Cyrillic or Greek stays as it is: real non-Latin lyrics are
    not watermarks.
    """
    if text.isascii():
        return text
    return "\n".join(_fold_line(line) for line in text.split("\n"))


def _fold_line(line: str) -> str:
    def letters(word: str) -> list[str]:
        return [c for c in word if c.isalpha()]

    def writable(word: str) -> bool:  # Latin letters can write it whole
        return all(_is_latin(c) or latin_twin(c) for c in letters(word))

    words = _WORD.findall(line)
    if all(_is_latin(c) for w in words for c in letters(w)):
        return line
    latin_line = any(_is_latin(c) for w in words for c in letters(w)) and all(
        writable(w) for w in words if not any(_is_latin(c) for c in letters(w)))

    def fold(match: re.Match[str]) -> str:
        word = match.group(0)
        mixed = any(_is_latin(c) for c in letters(word))
        if not writable(word) or not (mixed or (latin_line and len(letters(word)) == 1)):
            return word
        return "".join(c if _is_latin(c) or not c.isalpha() else latin_twin(c) or c for c in word)

    return _WORD.sub(fold, line)


def normalize_characters(text: str) -> str:
    """Repair mojibake, fold odd spaces and look-alikes, drop invisible marks, straighten quotes."""
    # UTF-8 read as Latin-1 and saved again ("don\u00e2\x80\x99t" for "don't"), as one real
    # scrape holds. ftfy (Apache-2.0) is the maintained repair; fix_encoding alone, and first:
    # the mojibake of "à" ends in a no-break space, which the space folding below would break.
    text = ftfy.fix_encoding(text)
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_ODD_SPACES).translate(_INVISIBLES).translate(QUOTES)
    return fold_look_alikes(text)


def strip_page_header(text: str) -> str:
    """Remove the '102 Contributors...Title Lyrics' line and the 'about' text ending 'Read More'."""
    first, _, rest = text.partition("\n")
    has_header = bool(_CONTRIBUTORS.match(first)) or bool(_TITLE_LYRICS.match(first))
    if not has_header:
        return text
    match = _TITLE_LYRICS.match(first)
    first = first[match.end():] if match else ""
    text = first + "\n" + rest if first.strip() else rest
    # The 'about' blurb sits between the header and the first lyric, ending in "Read More".
    first_lyric = text.find("[")
    more = _READ_MORE.search(text, 0, 2500 if first_lyric < 0 else min(first_lyric, 2500))
    if more:
        text = text[more.end():]
    return text


def strip_embed_footer(text: str) -> str:
    """Remove the trailing '161Embed' / 'EmbedShare URLCopyEmbedCopy'."""
    return _EMBED.sub("", text.rstrip())


def _cut(pattern: re.Pattern[str], text: str) -> str:
    """Remove junk: a junk line goes away whole; junk glued between two lines splits them."""

    def replace(match: re.Match[str]) -> str:
        at_start = match.start() == 0 or text[match.start() - 1] == "\n"
        at_end = match.end() == len(text) or text[match.end()] == "\n"
        if at_start and at_end:
            return "\0"  # the whole line was junk: drop the line, not just its text
        return "" if at_start or at_end else "\n"

    return pattern.sub(replace, text).replace("\0\n", "").replace("\0", "")


def strip_ads(text: str) -> str:
    """Remove ticket ads, 'You might also like' and related-songs blocks glued into lines."""
    for junk in (_TICKETS, _MIGHT_LIKE, _RELATED):
        text = _cut(junk, text)
    return text


# "*Gunshot, woman screaming*" alone on a line: a sound, not a lyric.
_STAGE_DIRECTION = re.compile(r"^[ \t]*\(?\*[^*\n]{1,60}\*\)?[ \t]*(?:\n|$)", re.MULTILINE)
# "(x2)", "x4", "(2x)" ending a line: how often to sing it, not words to sing.
_REPEAT_MARK = re.compile(r"[ \t]+\(?(?:[xX][ ]?\d{1,2}|\d{1,2}[xX])\)?[ \t]*$", re.MULTILINE)


def strip_notes(text: str) -> str:
    """Drop stage directions and repeat marks; write ad-libs in braces in parentheses."""
    text = _REPEAT_MARK.sub("", _STAGE_DIRECTION.sub("", text))
    # Some scrapes put backing vocals in braces; Genius and most lyrics use parentheses.
    return text.replace("{", "(").replace("}", ")")


def section_name(label: str) -> str | None:
    """Map a header label like 'Chorus: Taylor Swift & Ed Sheeran' to 'Chorus', else None."""
    label = label.split(":")[0].casefold()
    label = re.sub(r"[\d#]+|\b(?:i{1,3}|iv|v)\b|\(.*?\)|[.*]", " ", label)
    label = re.sub(r"\s+", " ", label).strip()
    if label in _SECTION_OF:
        return _SECTION_OF[label]
    words = label.replace("/", " ").split()
    for size in (2, 1):  # "pre chorus" before "chorus"
        for i in range(len(words) - size + 1):
            name = _SECTION_OF.get(" ".join(words[i:i + size]))
            if name:
                return name
    return None


def normalize_sections(text: str) -> str:
    """Put each known section header on its own line as `[Name]`; drop other bracketed notes."""

    def replace(match: re.Match[str]) -> str:
        name = section_name(match.group(1))
        return f"\n\n[{name}]\n" if name else ""

    # A note in parentheses ("Yeah ([?])") leaves them empty once it is gone.
    return re.sub(r"[ \t]*\([ \t]*\)", "", _BRACKETED.sub(replace, text))


# A line that only names who performs the stanza below it: "[Method Man:]", "[Raekwon the
# Chef]", "[RZA (Method Man)]". Rap catalogues head most verses so. Words a name is made of:
_NAME_CONNECTORS = frozenset({"&", "and", "the", "tha", "da", "of", "n'", "'n'", "x"})
# Capitalised labels that are not performers (and not sections we know).
_NOT_PERFORMERS = frozenset({
    "sample", "samples", "skit", "repeat", "all", "both", "everybody", "crowd", "spoken",
    "dialogue", "scratches", "instrumental", "produced", "part", "beat", "solo", "excerpt",
    "chant", "vocals", "vocalisations", "vocalizations", "unknown", "interview", "speech",
    "talking", "ad-libs", "adlibs", "laughing", "singing", "segue", "buildup", "intermission",
    "ending", "end", "movie", "song", "lyrics", "music", "applause", "silence", "unreleased"})
_ALONE = re.compile(r"\[([^\[\]\n]{1,80})\]")


def performer_tag(label: str) -> bool:
    """Say whether a bracketed label only names performers ('Method Man:', 'RZA (Meth)')."""
    words = re.sub(r"\([^()]*\)", " ", label).strip().rstrip(":").split()
    return (0 < len(words) <= 5 and words[0][0].isupper()
            and all(w.casefold() in _NAME_CONNECTORS
                    or (w[0].isupper() and re.fullmatch(r"[\w.'\u2019/-]+", w)) for w in words)
            and not any(w.casefold().strip(".") in _NOT_PERFORMERS for w in words)
            # "Pre-Verse", "Pre-Bridge": parts of a song, not people
            and not any(part in _SECTION_OF
                        for w in words for part in re.split(r"[-/]", w.casefold())))


def tag_performers(text: str) -> str:
    """Make a line that only names performers a [Verse] header, unless a header just opened."""
    out: list[str] = []
    previous: re.Match[str] | None = None  # the line just before, if it was a lone header
    for line in text.split("\n"):
        alone = _ALONE.fullmatch(line.strip())
        if alone and section_name(alone.group(1)) is None and performer_tag(alone.group(1)):
            if previous and section_name(previous.group(1)):
                continue  # "[Chorus]" then "[RZA]": the chorus, as RZA performs it
            line = "[Verse]"
            alone = _ALONE.fullmatch(line)
        out.append(line)
        previous = alone
    return "\n".join(out)


def tidy_stanzas(text: str) -> str:
    """Trim lines, one blank line between stanzas, and give every stanza of a headed song form.

    A header with no lines is dropped, except a chorus that only refers back to the song's
    chorus ("[Hook]" at the end of a rap song): it gets that chorus's lines again. In a song
    with headers, a first stanza with none (scrapes often lose the first "[Verse 1]") is headed
    [Verse], or [Intro] when a [Verse] follows it.
    """
    stanzas: list[tuple[str | None, list[str]]] = []
    new = True  # the next lyric line starts a stanza (with no header)
    for raw in text.split("\n"):
        line = re.sub(r" {2,}", " ", raw).strip()
        if line in SECTION_HEADERS:
            stanzas.append((line, []))
            new = False
        elif line:
            if new:
                stanzas.append((None, []))
                new = False
            stanzas[-1][1].append(line)
        elif stanzas and stanzas[-1][1]:
            new = True  # a blank line ends a stanza that has lines
    chorus: list[str] = []
    kept: list[tuple[str | None, list[str]]] = []
    for header, lines in stanzas:
        if header == "[Chorus]":
            lines = lines or list(chorus)
            chorus = lines
        if lines:
            kept.append((header, lines))
    headers = [header for header, _ in kept if header]
    if kept and kept[0][0] is None and headers:
        kept[0] = ("[Intro]" if headers[0] == "[Verse]" else "[Verse]", kept[0][1])
    return "\n\n".join("\n".join(([header] if header else []) + lines)
                       for header, lines in kept)


def clean_lyrics(text: str) -> str:
    """Apply every cleaning rule, in order."""
    text = normalize_characters(text)
    text = strip_page_header(text)
    text = strip_embed_footer(text)
    text = strip_ads(text)
    text = strip_notes(text)
    text = tag_performers(text)
    text = normalize_sections(text)
    return tidy_stanzas(text)


# Titles that are not songs. lyricsgenius' own list misses several of these.
_NON_SONG_TITLE = re.compile(
    r"\b(booklet|liner notes?|track ?list(ing)?|credits|set ?list|interviews?|voice memo|"
    r"phone memo|memo|prologue|epilogue|instrumental|playlist|album art(work)?|skit|"
    r"acceptance speech|speech|letter to|script|foreword|introduction to|"
    # Poems and spoken-word recordings published alongside albums.
    r"poems?|spoken word|read by|read aloud|phone call|voicemail|voice message|monologue)\b",
    re.IGNORECASE,
)
# Words that name a non-song only as a marker, "(Poetry)", "[Spoken]" or "- Reading": bare,
# they also start real song titles ("Poetry in Motion", "Spoken For").
_NON_SONG_MARKER = re.compile(
    r"(\(|\[|\s-\s)\s*(poetry|spoken|reading|narration|narrated|commentary|dialogue|"
    r"conversation|transcript)\b", re.IGNORECASE)
# "Name: words" opening a line: who is talking in a transcript (an interview, a phone call).
_SPEAKER = re.compile(r"^[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,2}: \S")
MIN_WORDS = 40  # fewer words than this is a fragment, a snippet or an empty page
MIN_LINES = 4
PROSE_LINE_CHARS = 200  # a lyric line is rarely longer; a paragraph nearly always is
SPOKEN_LINE_WORDS = 16  # lyric lines average 5-10 words; sentences read aloud run longer


def non_song_title(title: str) -> str | None:
    """Say why a title names something that is not a song (a booklet, a poem...), or None."""
    if match := _NON_SONG_TITLE.search(title):
        return f"not a song: title says {match.group(0).lower()!r}"
    if match := _NON_SONG_MARKER.search(title):
        return f"not a song: title says {match.group(2).lower()!r}"
    return None


def non_song_reason(title: str, cleaned: str) -> str | None:
    """Say why a text is not a song (booklet, memo, poem, transcript, prose...), or None."""
    reason = non_song_title(title)
    if reason:
        return reason
    lines = [line for line in cleaned.split("\n") if line and line not in SECTION_HEADERS]
    words = sum(len(line.split()) for line in lines)
    if words < MIN_WORDS or len(lines) < MIN_LINES:
        return f"too short: {words} words in {len(lines)} lines"
    if sum(len(line) > PROSE_LINE_CHARS for line in lines) * 3 >= len(lines):
        return "prose, not lyrics: most lines are paragraphs"
    if sum(bool(_SPEAKER.match(line)) for line in lines) * 2 >= len(lines):
        return "a transcript, not lyrics: most lines start with who is speaking"
    if words / len(lines) > SPOKEN_LINE_WORDS:
        return (f"spoken prose, not lyrics: {words / len(lines):.0f} words a line "
                f"(lyrics have {SPOKEN_LINE_WORDS} or fewer)")
    return None
