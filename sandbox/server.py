"""A moto server on 127.0.0.1, running in this process with the sandbox patches installed.

The server must run in the same process as the code that seeds it, because `sandbox.patches` edits
moto's backends and classes in memory. A separate `moto_server` process would not see those edits.
"""

from __future__ import annotations

import logging
import os
from types import TracebackType

from sandbox import patches

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"

# Environment the simulator needs: fake credentials, no instance metadata lookups, no AWS config
# files, and no public AMIs preloaded (moto otherwise lists about 1,300 snapshots in every account).
SANDBOX_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


def environment_isolate() -> None:
    """Point boto3 at fake credentials only, so no real AWS identity can be used by mistake.

    MOTO_ACCOUNT_ID is removed because it pins every request to one account, which stops AssumeRole
    from switching between the simulated accounts.
    """
    os.environ.update(SANDBOX_ENVIRONMENT)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("MOTO_ACCOUNT_ID", None)


class SandboxServer:
    """A ThreadedMotoServer on a free 127.0.0.1 port, with the sandbox patches installed.

    Use as a context manager, or call `start()` and `stop()`. `url` is the endpoint to hand to
    boto3 (`endpoint_url`) and to the product (`settings.AWS_ENDPOINT_URL`).
    """

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server = None
        self._patches = None
        self.url = ""

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        if self._server is not None:
            raise RuntimeError(f"The sandbox server is already running at {self.url}.")
        environment_isolate()
        # werkzeug logs every request at INFO; a scan makes hundreds.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._patches = patches.installed()
        self._patches.__enter__()
        try:
            server = ThreadedMotoServer(ip_address=HOST, port=self._port, verbose=False)
            server.start()
        except BaseException:
            self._patches.__exit__(None, None, None)
            self._patches = None
            raise
        self._server = server
        host, port = server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        logger.info("Sandbox moto server listening on %s", self.url)
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            logger.info("Sandbox moto server at %s stopped", self.url)
        if self._patches is not None:
            self._patches.__exit__(None, None, None)
            self._patches = None
        self.url = ""

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
