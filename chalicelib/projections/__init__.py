"""Stream consumer that maintains read models (inbox, live-chat snapshots)."""
