"""Local developer stack: serialised moto server, infra deploy, event pump, tokens, seed."""
