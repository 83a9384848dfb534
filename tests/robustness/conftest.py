from tests.campaigns.conftest import tuned
from tests.channels.conftest import local_tls

__all__ = ["local_tls", "tuned"]
