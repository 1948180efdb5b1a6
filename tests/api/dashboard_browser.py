"""Debian's headless chromium, driven over the DevTools protocol on a pipe (no packages
beyond the browser), and the parsed DOM of what it shows."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",  # commands on fd 3, answers on fd 4, each ending in NUL
)


def chromium_or_skip() -> Path:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(
            f"chromium not found at {CHROMIUM}: install Debian's chromium "
            "(`apt-get install chromium`; CI's .ci/run does) to run the dashboard's browser tests"
        )
    return CHROMIUM


def high_pipe() -> tuple[int, int]:
    """A pipe whose ends are numbered 10 or more, clear of the 3 and 4 they are put on."""
    ends = []
    for end in os.pipe():
        ends.append(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(end)
    return ends[0], ends[1]


class Browser:
    """One headless chromium for the length of a `with` block; `open(url)` gives a tab."""

    def __init__(self, timeout: float = 30) -> None:
        self.timeout = timeout
        self.profile = tempfile.TemporaryDirectory(prefix="ringcache-chromium-")
        commands_in, self.commands = high_pipe()
        self.answers, answers_out = high_pipe()
        # bash puts the pipe ends on fds 3 and 4 and becomes chromium (not a preexec_fn: this
        # process has threads; not dash: it takes no fd numbers past 9).
        command = [str(chromium_or_skip()), *FLAGS, f"--user-data-dir={self.profile.name}"]
        on_3_and_4 = f'exec "$@" 3<&{commands_in} 4>&{answers_out}'
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", on_3_and_4, "bash", *command, "about:blank"],
            pass_fds=(commands_in, answers_out),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # chromium's helpers share its group, to end them with it
        )
        os.close(commands_in)
        os.close(answers_out)
        self.pending = b""
        self.last_id = 0

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # Its helper processes can outlive it for a moment and still write to the profile.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # none left: the group is gone with chromium
        os.close(self.commands)
        os.close(self.answers)
        self.profile.cleanup()

    def call(self, method: str, session: str | None = None, **params: Any) -> dict:
        """Send one command and return its result (events in between are passed over)."""
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" not in self.pending:
                remaining = deadline - time.monotonic()
                ready, _, _ = select.select([self.answers], [], [], max(remaining, 0))
                chunk = os.read(self.answers, 1 << 16) if ready else b""
                assert chunk, f"chromium did not answer {method} within {self.timeout} s"
                self.pending += chunk
            raw, self.pending = self.pending.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.last_id:
                assert "error" not in answer, (method, answer["error"])
                return answer["result"]

    def open(self, url: str) -> Tab:
        target = self.call("Target.createTarget", url=url)["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        return Tab(self, session)


class Tab:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-like values only)."""
        answer = self.browser.call(
            "Runtime.evaluate", self.session, expression=expression, returnByValue=True
        )
        assert "exceptionDetails" not in answer, answer["exceptionDetails"]
        return answer["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(f"(() => {{ try {{ return {expression}; }} catch {{}} }})()")
            if value:
                return value
            time.sleep(0.1)
        pytest.fail(f"the page never showed {expression} within {timeout} s")

    def polls(self) -> int:
        """How many times the page has drawn the API's answers (0 before it has loaded)."""
        return int(self.evaluate("document.getElementById('status')?.dataset.polls || 0"))

    def dom(self) -> Page:
        return Page(self.evaluate("document.documentElement.outerHTML"))


def camel(attribute: str) -> str:
    """`data-used-bytes` -> `usedBytes`, as `dataset` names it."""
    return re.sub(r"-([a-z])", lambda m: m.group(1).upper(), attribute.removeprefix("data-"))


class Page(HTMLParser):
    """Every element of a DOM, in document order, with its attributes, its data- attributes
    (by their `dataset` names) and its text."""

    VOID = {"meta", "link", "input", "br", "img", "hr"}

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[dict] = []
        self.open: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        element["data"] = {camel(k): v for k, v in attrs if k.startswith("data-")}
        self.elements.append(element)
        if tag not in self.VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element["text"] += data

    def having(self, key: str) -> list[dict]:
        """The data- attributes of every element that has `key` among them."""
        return [e["data"] for e in self.elements if key in e["data"]]

    def by_id(self, element_id: str) -> dict | None:
        return next((e for e in self.elements if e["attrs"].get("id") == element_id), None)
