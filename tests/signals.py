"""A SIGINT that Python swallows: the test helper for Ctrl-C during a finaliser."""
import os
import signal
import time


class SigintInFinaliser:
    """Sends SIGINT from its ``__del__``. A ``KeyboardInterrupt`` raised inside a finaliser is one Python swallows
    ("Exception ignored in ..."); a CI run once lost a Ctrl-C that way, in a dask ``Future.__del__``."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)                    # the handler runs here, inside the finaliser
