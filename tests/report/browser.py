"""Load a page in headless Chromium over the DevTools Protocol, with the network off.

Chromium runs with an empty profile and the flags it needs as root in a container; we connect to
its DevTools websocket (``websocket-client``), switch the network off, load the file and collect
every request, console message and exception, then check each ``<img>`` and take a screenshot.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-allow-origins=*",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


@dataclass
class PageResult:
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    screenshot: bytes = b""


class _Session:
    def __init__(self, url: str) -> None:
        import websocket

        self.socket = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(json.loads(self.socket.recv()))


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float = 30.0) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while not marker.is_file() or not marker.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"chromium did not start: {process.stderr.read()[-2000:]!r}")
        time.sleep(0.1)
    return int(marker.read_text().split()[0])


def load_offline(page: Path, width: int = 1280, height: int = 1400) -> PageResult:
    """Load ``page`` with the network switched off; return what happened and a screenshot."""
    # Chromium's helper processes can still write into the profile as it exits.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            port = _devtools_port(Path(profile), process)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
                targets = json.loads(reply.read())
            target = next(t for t in targets if t.get("type") == "page")
            session = _Session(target["webSocketDebuggerUrl"])
            return _inspect(session, page, width, height)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _inspect(session: _Session, page: Path, width: int, height: int) -> PageResult:
    for domain in ("Network", "Page", "Runtime", "Log"):
        session.call(f"{domain}.enable")
    session.call(
        "Network.emulateNetworkConditions",
        offline=True,
        latency=0,
        downloadThroughput=-1,
        uploadThroughput=-1,
    )
    session.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    session.call("Page.navigate", url=page.absolute().as_uri())
    session.wait_for("Page.loadEventFired")
    images = session.call(
        "Runtime.evaluate",
        expression="JSON.stringify(Array.from(document.images).map(i => ({"
        "complete: i.complete, width: i.naturalWidth, src: i.src.slice(0, 40)})))",
        returnByValue=True,
    )["result"]["value"]
    shot = session.call("Page.captureScreenshot", format="png")
    result = PageResult(images=json.loads(images), screenshot=base64.b64decode(shot["data"]))
    for event in session.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("data:", page.absolute().as_uri())):
                result.requests.append(url)
        elif method == "Network.loadingFailed":
            result.failed.append(params.get("errorText", ""))
        elif method == "Runtime.exceptionThrown":
            result.console_errors.append(json.dumps(params["exceptionDetails"])[:300])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            result.console_errors.append(json.dumps(params.get("args"))[:300])
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            result.console_errors.append(params["entry"].get("text", ""))
    return result
