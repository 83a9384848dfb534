from tests.campaigns.conftest import recording, tuned  # noqa: F401  (shared fixtures)
