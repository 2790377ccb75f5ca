"""social's public read port: the follow/block graph and the pair-state items other domains
read (DM rules, shares, pushes, realtime frames). Other domains import this module, never
``chalicelib.social.dal``; social alone encodes and decodes its items."""

from __future__ import annotations

from chalicelib.social.dal import DynamoGraph, graph, pair_state_keys, pair_states_from

__all__ = ["DynamoGraph", "graph", "pair_state_keys", "pair_states_from"]
