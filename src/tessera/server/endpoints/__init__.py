"""One module per endpoint; each is a pipeline of named check steps."""
