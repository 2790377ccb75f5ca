"""Account deletion and data export (issue 20)."""
