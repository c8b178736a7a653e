"""calmdesk over HTTP: triage and coaching endpoints, a ticket store, feedback and retraining."""
