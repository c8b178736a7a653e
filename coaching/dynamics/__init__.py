"""Conversation dynamics: interruptions, talk ratio, pace, silences and holds, chat response
times and the customer's mood, each with a threshold that turns it into a finding.

    from coaching.dynamics import measure_dynamics
    dynamics = measure_dynamics(transcript, "en", mood=my_mood_function)

The mood function is handed in (coaching does not import triage): it takes the customer's turn
texts and the language and gives one (label, intensity 0..1) per text; `calmdesk.mood` builds
one from the triage emotion head.
"""

from coaching.dynamics.findings import dynamics_findings
from coaching.dynamics.measures import (
    Dynamics,
    MoodFunction,
    MoodReading,
    check_timings,
    measure_dynamics,
    speech_units,
)
from coaching.dynamics.settings import DynamicsSettings

__all__ = [
    "Dynamics",
    "DynamicsSettings",
    "MoodFunction",
    "MoodReading",
    "check_timings",
    "dynamics_findings",
    "measure_dynamics",
    "speech_units",
]
