"""Starts `switchboard serve` ($SWITCHBOARD_BIN) on a free port for the tests in this folder."""
import os
import re
import subprocess

import pytest


@pytest.fixture(scope="module")
def server():
    binary = os.environ.get("SWITCHBOARD_BIN")
    if not binary:
        pytest.fail("SWITCHBOARD_BIN must point at the switchboard binary")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--log-level", "warn", "--max-message-size", "1048576"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on http://([^:]+):(\d+)", line)
        assert match, f"unexpected first line: {line!r}"
        yield f"ws://127.0.0.1:{match.group(2)}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
