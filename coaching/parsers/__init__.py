"""Transcripts in: plain text with speaker prefixes, JSON, JSONL, WebVTT, SRT and CSV.

One module per format, one place (`speakers.SpeakerRoles`) that maps speaker names onto roles,
and `loading` for the entry points. Every line of the source ends up in a turn, or the parser
raises an `InputError` naming the file and the line, cue or row: trainers must be able to trust
that nothing was silently left out.
"""

from coaching.parsers.assemble import agent_id_from_name
from coaching.parsers.json import transcript_from_dict
from coaching.parsers.loading import (
    EXTENSIONS,
    FORMATS,
    MAX_FILE_BYTES,
    STDIN,
    detect_format,
    load_transcripts,
    normalize_format,
    parse_many,
    parse_transcript,
    read_source,
    transcript_files,
)
from coaching.parsers.speakers import (
    DEFAULT_SPEAKERS,
    ROLES,
    SpeakerRoles,
    SpeakersArg,
    parse_speaker_option,
    speaker_names,
)

__all__ = [
    "DEFAULT_SPEAKERS",
    "EXTENSIONS",
    "FORMATS",
    "MAX_FILE_BYTES",
    "ROLES",
    "STDIN",
    "SpeakerRoles",
    "SpeakersArg",
    "agent_id_from_name",
    "detect_format",
    "load_transcripts",
    "normalize_format",
    "parse_many",
    "parse_speaker_option",
    "parse_transcript",
    "read_source",
    "speaker_names",
    "transcript_files",
    "transcript_from_dict",
]
