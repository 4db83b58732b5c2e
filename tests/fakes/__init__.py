"""Real, in-process fakes of external services for tests."""
