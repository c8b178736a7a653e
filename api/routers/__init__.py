"""One router per resource: triage, coach, tickets (with feedback), stats, service."""
