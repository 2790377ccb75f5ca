"""Social graph: follows, friends, blocks, DM policy, contacts and suggestions."""
