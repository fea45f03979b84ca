"""Starts `$SWITCHBOARD_BIN serve` on a free port for the tests and kills it afterwards."""
import os
import queue
import re
import subprocess
import threading

import pytest

LIMIT = 2 * 1024 * 1024


class Server:
    def __init__(self, *args):
        binary = os.environ.get("SWITCHBOARD_BIN")
        if not binary:
            pytest.fail("SWITCHBOARD_BIN must point at the switchboard binary")
        env = {"SWITCHBOARD_LOG": "warn", **os.environ}
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        lines = queue.Queue()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        try:
            port = lines.get(timeout=15)
        except queue.Empty:
            self.stop()
            pytest.fail("the server did not print its listening line within 15 s")
        if port is None:
            self.stop()
            pytest.fail(f"the server exited early with {self.proc.wait()}")
        self.port = port
        self.url = f"ws://127.0.0.1:{port}"

    def _read(self, lines):
        """Reports the port from the listening line (None at EOF), then drains stdout."""
        reported = False
        for line in self.proc.stdout:
            match = re.search(r"listening on http://([^:]+):(\d+)", line)
            if match and not reported:
                lines.put(int(match.group(2)))
                reported = True
        if not reported:
            lines.put(None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server():
    """One server per test module, with a 2 MiB message limit."""
    s = Server("--max-message-size", str(LIMIT))
    yield s.url
    s.stop()
