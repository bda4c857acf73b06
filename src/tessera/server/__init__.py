"""The authorization server: endpoints, client authentication, token issuance."""
