"""Live streams and sharded, snapshot-served live chat."""
