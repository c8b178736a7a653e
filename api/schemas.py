"""Request and response models: the OpenAPI contract other teams code against."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from calmdesk.bounded_json import MAX_JSON_DEPTH, nesting_depth

TRANSCRIPT_FORMATS = ("text", "json", "jsonl", "vtt", "srt", "csv")
MAX_LABEL_CHARS = 50  # the ticket_emotions.emotion column
MAX_EMOTIONS = 20
MAX_META_KEYS = 50
MAX_META_CHARS = 10_000
EmotionLabel = Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL_CHARS)]
TranscriptFormat = Literal["text", "json", "jsonl", "vtt", "srt", "csv"]


def _iso_datetime_only(value: object) -> object:
    """Pydantic would read "0.5" as a Unix time; a date range must be written as a date."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
    raise ValueError("expected an ISO 8601 date-time such as 2026-11-30T08:00:00Z")


_IsoDateTime = Annotated[datetime, BeforeValidator(_iso_datetime_only)]
Since = Annotated[
    _IsoDateTime | None, Query(description="Created at or after (ISO 8601; UTC when no offset).")
]
Until = Annotated[_IsoDateTime | None, Query(description="Created before (ISO 8601).")]


class _Request(BaseModel):
    # A misspelt field is an error, not silently ignored data.
    model_config = ConfigDict(extra="forbid")


# --- errors ---------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str = Field(examples=["text: String should have at least 1 character"])
    field: str | None = Field(None, examples=["text"])
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """The `responses=` entry declaring our error body for each status an endpoint can give."""
    reasons = {
        401: "Missing or invalid API key",
        403: "The API key lacks the scope this endpoint needs",
        404: "No such ticket",
        413: "Request body or batch larger than the configured limit",
        422: "Invalid input (malformed JSON, empty text, unknown language or format, bad label)",
        503: "A model or the database is not available",
    }
    return {s: {"model": ErrorBody, "description": reasons[s]} for s in statuses}


# --- triage ---------------------------------------------------------------------------------
class TriageRequest(_Request):
    text: str = Field(min_length=1, description="The complaint as the customer wrote it.")
    id: str | None = Field(None, max_length=200, description="Your own id, echoed back.")
    lang: str | None = Field(
        None, max_length=20, description="en, es, zh or ru (names and zh-Hant also work)."
    )
    channel: str | None = Field(None, max_length=100, examples=["email"])
    customer_ref: str | None = Field(None, max_length=200)


class TriageBatchRequest(_Request):
    items: list[TriageRequest] = Field(min_length=1)


class LabelScore(BaseModel):
    label: str
    probability: float


class SingleLabelResult(BaseModel):
    label: str
    probability: float
    top3: list[LabelScore]
    needs_review: bool


class EmotionResult(BaseModel):
    labels: list[str]
    probabilities: dict[str, float]
    top3: list[LabelScore]
    needs_review: bool
    calm: bool
    calming_steps: list[str]


class TriageResult(BaseModel):
    id: str | None = Field(description="Your id when you sent one, else the ticket id.")
    lang: str
    script: str | None = Field(None, description="zh only: simplified or traditional.")
    cause: SingleLabelResult
    department: SingleLabelResult
    emotions: EmotionResult
    model_version: str
    ticket_id: str = Field(description="Id of the stored ticket, for feedback.")


class TriageBatchResponse(BaseModel):
    items: list[TriageResult]
    model_version: str


# --- coaching -------------------------------------------------------------------------------
class TurnIn(_Request):
    speaker: str | None = Field(
        None, min_length=1, max_length=200, description="As written; 'role' alone also works."
    )
    role: Literal["agent", "customer", "other"] | None = Field(
        None, description="Guessed from the speaker name when left out."
    )
    text: str
    start: float | None = Field(None, ge=0, allow_inf_nan=False, description="Seconds.")
    end: float | None = Field(None, ge=0, allow_inf_nan=False, description="Seconds.")

    @model_validator(mode="after")
    def _ordered(self) -> TurnIn:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"the turn ends at {self.end:g} s, before its start {self.start:g} s")
        return self


class TranscriptIn(_Request):
    turns: list[TurnIn] = Field(min_length=1)
    id: str | None = Field(None, max_length=200)
    agent_id: str | None = Field(None, max_length=200)
    lang: str | None = Field(None, max_length=20)
    meta: dict = Field(
        default_factory=dict,
        description=f"Passed through; at most {MAX_META_KEYS} keys, {MAX_META_CHARS} characters.",
    )

    @field_validator("meta")
    @classmethod
    def _bounded_meta(cls, meta: dict) -> dict:
        if len(meta) > MAX_META_KEYS:
            raise ValueError(f"at most {MAX_META_KEYS} keys, got {len(meta)}")
        if nesting_depth(meta) > MAX_JSON_DEPTH:  # before json.dumps, which recurses
            raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
        if len(json.dumps(meta, default=str)) > MAX_META_CHARS:
            raise ValueError(f"at most {MAX_META_CHARS} characters as JSON")
        return meta


class CoachRequest(_Request):
    """Either `transcript` (structured turns) or `text` in one of the transcript `format`s."""

    # Absent, not null: the schema's oneOf says which combinations are valid.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["transcript"], "not": {"required": ["format"]}},
                {"required": ["text"]},
            ]
        },
    )

    transcript: TranscriptIn = Field(None, description="The call as structured turns.")
    text: str = Field(None, min_length=1, description="A raw transcript.")
    format: TranscriptFormat = Field(None, description="Format of `text`; detected when left out.")
    lang: str | None = Field(None, max_length=20)
    id: str | None = Field(None, max_length=200)
    script: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="Also check a call script's steps, e.g. 'follow-up'.",
        examples=["follow-up"],
    )
    mood: bool = Field(
        False,
        description="Also read the customer's mood per turn with the served triage emotion "
        "model (503 when none is loaded) and say whether it eased by the end.",
    )
    detector: Literal["rules", "model", "both"] | None = Field(
        None,
        description="rules (the rulebooks), model (the learned detector) or both; default both "
        "when the server has the encoder and detector, else rules.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> CoachRequest:
        if (self.transcript is None) == (self.text is None):
            raise ValueError("send exactly one of 'transcript' (turns) or 'text' (raw transcript)")
        if self.format is not None and self.text is None:
            raise ValueError("'format' describes 'text'; it cannot go with 'transcript'")
        return self


class CoachBatchRequest(_Request):
    items: list[CoachRequest] = Field(min_length=1)


class FindingOut(BaseModel):
    rule_id: str
    category: str
    severity: str
    turn: int | None
    speaker: str | None
    start: int | None
    end: int | None
    text: str
    message: str
    message_en: str
    suggestion: str
    practice: str | None = None
    source: Literal["rules", "model", "both"] = Field(
        "rules", description="Who found it: the rules, the learned detector, or both."
    )
    probability: float | None = Field(None, description="The detector's probability, if used.")


class InterruptionOut(BaseModel):
    turn: int = Field(description="The agent turn that cut in.")
    customer_turn: int = Field(description="The customer turn it interrupted.")
    overlap_s: float | None = Field(description="Seconds both spoke; null from cut-off marks.")


class MoodOut(BaseModel):
    turn: int
    mood: str = Field(examples=["angry"], description="The strongest emotion, or 'calm'.")
    intensity: float = Field(description="0 calm .. 1 very upset; 0.5 at the emotion threshold.")


class DynamicsOut(BaseModel):
    """Conversation dynamics of one call (docs/coaching.md, "Conversation dynamics")."""

    timing: Literal["timestamps", "start_times", "turn_order"] = Field(
        description="What the measures rest on: start and end times, start times only (chats), "
        "or turn order."
    )
    interruptions: int | None
    interruption_turns: list[InterruptionOut]
    talk_ratio: float | None = Field(description="The agent's share of agent + customer talk.")
    talk_ratio_basis: str | None = Field(description="seconds, words or characters.")
    talk_ratio_judged: bool | None = Field(
        None,
        description="Whether the call is long enough for the talk-ratio finding (min_turns, "
        "min_words, min_seconds in thresholds.yaml); a note says why when not.",
    )
    pace_unit: str
    agent_pace: float | None
    customer_pace: float | None
    pace_matched: bool | None
    longest_silence_s: float | None
    longest_silence_turn: int | None = Field(description="The turn before the silence.")
    longest_silence_in_turn: int | None = Field(
        None, description="The turn the silence lies inside (between two of its cues), if one."
    )
    longest_silence_at_s: float | None = Field(
        None, description="When the silence began, in seconds."
    )
    longest_hold_s: float | None
    longest_hold_turn: int | None = Field(description="The agent turn that asked to wait.")
    longest_hold_in_turn: int | None = Field(
        None, description="The turn the hold lies inside (between two of its cues), if one."
    )
    longest_hold_at_s: float | None = Field(None, description="When the hold began, in seconds.")
    response_time_mean_s: float | None
    response_time_max_s: float | None
    response_time_max_turn: int | None
    mood: list[MoodOut] | None
    mood_start: float | None
    mood_start_label: str | None
    mood_end: float | None
    mood_end_label: str | None
    mood_eased: bool | None
    notes: list[str]


class CoachResult(BaseModel):
    id: str | None
    agent_id: str | None
    lang: str
    findings: list[FindingOut]
    counts: dict[str, int]
    score: float
    n_agent_turns: int
    source: str | None = None
    script: dict | None = None
    dynamics: DynamicsOut | None = None
    meta: dict = Field(default_factory=dict)


class CallScore(BaseModel):
    id: str | None
    call: int = Field(description="Index of the call in the batch's items.")
    score: float


class WorstMoment(BaseModel):
    id: str | None
    call: int = Field(description="Index of the call in the batch's items.")
    turn: int
    speaker: str | None
    start: float | None
    text: str
    weight: float = Field(description="Severity weights of the findings on the turn.")
    rules: list[str]
    anchor: str = Field(description="The turn's anchor in the HTML report.")


class AgentDynamicsOut(BaseModel):
    calls: int
    timed_calls: int
    interruptions: int
    interruptions_per_call: float | None
    talk_ratio: float | None
    agent_pace: float | None
    customer_pace: float | None
    pace_matched_calls: int
    pace_measured_calls: int
    longest_silence_s: float | None
    longest_hold_s: float | None
    response_time_mean_s: float | None
    response_time_max_s: float | None
    mood_eased_calls: int
    mood_measured_calls: int


class AgentScorecard(BaseModel):
    """One agent over the batch's calls: for a trainer preparing a one-to-one."""

    agent_id: str
    transcripts: int
    agent_turns: int
    findings: int
    errors: int
    warnings: int
    infos: int
    mean_score: float
    min_score: float
    lowest: str | None
    by_category: dict[str, int]
    top_categories: list[str]
    scores: list[CallScore]
    score_slope: float | None = Field(description="Least-squares score change per call.")
    trend: Literal["improving", "steady", "worsening"] | None
    dynamics: AgentDynamicsOut
    worst_moments: list[WorstMoment]


class CoachBatchResponse(BaseModel):
    items: list[CoachResult]
    agents: list[AgentScorecard] = Field(description="Per agent (agent_id), over the items.")


# --- tickets and feedback -------------------------------------------------------------------
class FeedbackRequest(_Request):
    """The desk's true labels; send the heads you are correcting (at least one)."""

    # Absent, not null: the schema's anyOf says at least one head is needed.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["cause"]},
                {"required": ["department"]},
                {"required": ["emotions"]},
            ]
        },
    )

    cause: str = Field(None, min_length=1, max_length=100)
    department: str = Field(None, min_length=1, max_length=100)
    emotions: list[EmotionLabel] = Field(None, max_length=MAX_EMOTIONS, description="[] = calm.")
    author: str | None = Field(
        None,
        max_length=200,
        description="Only without API keys; with keys the author is the key's name.",
    )
    note: str | None = Field(None, max_length=5000)

    @model_validator(mode="after")
    def _something(self) -> FeedbackRequest:
        if self.cause is None and self.department is None and self.emotions is None:
            raise ValueError("feedback needs at least one of 'cause', 'department', 'emotions'")
        return self


class FeedbackOut(BaseModel):
    feedback_id: int
    ticket_id: str
    created_at: datetime
    cause: str | None
    department: str | None
    emotions: list[str] | None
    author: str | None
    note: str | None


class PredictedLabels(BaseModel):
    cause: str
    department: str
    emotions: list[str]
    cause_probability: float
    department_probability: float


class TicketOut(BaseModel):
    ticket_id: str
    external_id: str | None
    created_at: datetime
    text: str = Field(description="Redacted (personal data replaced) unless redaction is off.")
    original_text: str | None = Field(
        None, description="The unredacted text; only when the desk opted in (keep_original)."
    )
    lang: str
    script: str | None
    channel: str | None
    customer_ref: str | None
    model_version: str
    cause: str = Field(description="Current cause: the latest correction, else the prediction.")
    department: str
    emotions: list[str]
    needs_review: bool
    corrected: bool
    predicted: PredictedLabels


class ErasureResponse(BaseModel):
    tickets: int = Field(description="Tickets deleted.")
    feedback: int = Field(description="Corrections deleted with them.")


class TicketDetail(TicketOut):
    feedback: list[FeedbackOut]


class FeedbackResponse(BaseModel):
    feedback: FeedbackOut
    ticket: TicketOut


class TicketPage(BaseModel):
    items: list[TicketOut]
    total: int
    limit: int
    offset: int
    next_offset: int | None


class StatsResponse(BaseModel):
    since: datetime | None
    until: datetime | None
    total: int
    corrected: int
    needs_review: int
    by_cause: dict[str, int]
    by_department: dict[str, int]
    by_emotion: dict[str, int] = Field(description="Tickets per emotion; 'calm' = none.")
    by_lang: dict[str, int]


# --- service --------------------------------------------------------------------------------
class TriageModelInfo(BaseModel):
    loaded: bool
    name: str = Field(description="The model folder's name (never a server path).")
    version: str | None = None
    backend: str | None = None
    created: str | None = None
    labels: dict[str, list[str]] = Field(default_factory=dict)
    metrics: dict | None = None
    error: str | None = None


class CoachingInfo(BaseModel):
    loaded: bool
    languages: list[str]
    error: str | None = None


class ModelsResponse(BaseModel):
    api_version: str
    triage: TriageModelInfo
    coaching: CoachingInfo


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
