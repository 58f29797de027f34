#!/usr/bin/env python3
"""Drives the interactive `modelrelay onboard` through a pseudo-terminal, like a person would.

Run by tests/onboard_pty.rs. The binary inherits this process's environment (the test sets
HOME, MODELRELAY_KEY_STORE=file and so on); the driver adds TERM and a window size.

Steps: wait for the provider menu (default "Done"), press the down arrow until the highlighted
row is the wanted provider, Enter, type the key at the hidden prompt, Enter, wait for the menu
again and choose "Done", answer the OpenCode question with "y", OpenClaw and Claude Code with "n" and
start-on-login with "n", then read until the program exits.

Each keystroke is sent only once the program is reading the terminal the way that prompt
reads it (raw mode for menus and yes/no questions, echo off for the hidden key). The terminal
settings of the pair are read from the master side with tcgetattr, so no input is typed early
and flushed or echoed. Prints one JSON summary on stdout; exits 0 when every step happened and
the program exited 0, 1 on a mismatch or a failed exit, 2 on a timeout.
Standard library only.
"""

import argparse
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>78DEHMc]")
DOWN = b"\x1b[B"
ENTER = b"\r"


class Timeout(Exception):
    pass


class Mismatch(Exception):
    pass


class Session:
    def __init__(self, argv, deadline):
        self.deadline = deadline
        self.raw = b""
        self.pos = 0  # how far into the cleaned transcript expectations have consumed
        self.eof = False
        self.steps = []
        pid, fd = pty.fork()
        if pid == 0:  # the child: stdin, stdout and stderr are the terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
                env = dict(os.environ, TERM="xterm", LANG="C.UTF-8")
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid = pid
        self.fd = fd
        self.status = None

    def text(self):
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        return left

    def pump(self, wait):
        """Reads whatever the program wrote within `wait` seconds."""
        if self.eof:
            time.sleep(min(wait, 0.01))
            return
        ready, _, _ = select.select([self.fd], [], [], min(wait, self.remaining()))
        if not ready:
            return
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if chunk:
            self.raw += chunk
        else:
            self.eof = True

    def expect(self, pattern, what):
        """Waits for `pattern` in the output after what was already consumed."""
        regex = re.compile(pattern)
        while True:
            found = regex.search(self.text(), self.pos)
            if found:
                self.pos = found.end()
                return found
            if self.eof:
                raise Mismatch(f"the program ended before {what}")
            try:
                self.pump(0.05)
            except Timeout:
                raise Timeout(f"waiting for {what}") from None

    def lflag(self):
        return termios.tcgetattr(self.fd)[3]

    def wait_mode(self, wanted, what):
        """Waits until the terminal is in `wanted` mode: "raw" (a key prompt is reading) or
        "hidden" (the password prompt is reading a line with echo off)."""
        while True:
            flags = self.lflag()
            raw = not flags & termios.ICANON
            hidden = flags & termios.ICANON and not flags & termios.ECHO
            if (wanted == "raw" and raw) or (wanted == "hidden" and hidden):
                return
            if self.eof:
                raise Mismatch(f"the program ended before {what}")
            try:
                self.pump(0.01)
            except Timeout:
                raise Timeout(f"waiting for the terminal mode of {what}") from None

    def send(self, data, step):
        self.steps.append(step)
        os.write(self.fd, data)

    def highlighted(self, what):
        """The menu row the program drew with the ">" marker after the last expectation."""
        return self.expect(r"(?:^|[\r\n])> ([^\r\n]*?)\s*\r?\n", what).group(1)

    def finish(self):
        while not self.eof:
            try:
                self.pump(0.05)
            except Timeout:
                raise Timeout("waiting for the program to exit") from None
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = status
                return os.waitstatus_to_exitcode(status)
            try:
                self.remaining()
            except Timeout:
                raise Timeout("waiting for the program to exit") from None
            time.sleep(0.01)

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass


def drive(session, provider, key, opencode, openclaw, claude_code, autostart):
    session.expect(r"Provider:", "the provider menu")
    row = session.highlighted("the menu's first drawing")
    if not row.startswith("Done"):
        raise Mismatch(f"the menu's default row is {row!r}, not Done")
    for _ in range(40):
        if row.startswith(provider):
            break
        session.wait_mode("raw", "the provider menu")
        session.send(DOWN, "down")
        row = session.highlighted("the menu to redraw after the down arrow")
    else:
        raise Mismatch(f"{provider} never became the highlighted menu row")
    session.wait_mode("raw", "the provider menu")
    session.send(ENTER, f"choose {provider}")
    session.expect(rf"API key for {re.escape(provider)} \(hidden", "the key prompt")
    session.wait_mode("hidden", "the key prompt")
    session.send(key.encode() + ENTER, "type the key")
    check = session.expect(r"[✓•✗] [^\r\n]*", "the result of the key check").group(0)
    session.expect(r"Provider:", "the provider menu, again")
    row = session.highlighted("the menu's second drawing")
    if not row.startswith("Done"):
        raise Mismatch(f"the menu's default row is {row!r} the second time, not Done")
    session.wait_mode("raw", "the provider menu, again")
    session.send(ENTER, "choose Done")
    for agent, answer in (("OpenCode", opencode), ("OpenClaw", openclaw), ("Claude Code", claude_code)):
        session.expect(rf"Configure {agent} to use modelrelay", f"the {agent} question")
        session.wait_mode("raw", f"the {agent} question")
        session.send(answer.encode(), f"{agent}: {answer}")
    session.expect(r"Start modelrelay when you log in\?", "the start-on-login question")
    session.wait_mode("raw", "the start-on-login question")
    session.send(autostart.encode(), f"autostart: {autostart}")
    session.expect(r"Done\. Point any OpenAI-compatible client", "the closing line")
    return check


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--port", required=True)
    parser.add_argument("--provider", default="Groq", help="the menu row's name")
    parser.add_argument("--key", required=True)
    parser.add_argument("--opencode", default="y", choices=["y", "n"])
    parser.add_argument("--openclaw", default="n", choices=["y", "n"])
    parser.add_argument("--claude-code", default="n", choices=["y", "n"])
    parser.add_argument("--autostart", default="n", choices=["y", "n"])
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    started = time.monotonic()
    session = Session(
        [args.binary, "onboard", "--port", args.port], started + args.timeout
    )
    summary = {"exit_code": None, "steps": session.steps, "key_check": None}
    outcome = 0
    try:
        summary["key_check"] = drive(
            session, args.provider, args.key, args.opencode, args.openclaw, args.claude_code, args.autostart
        )
        summary["exit_code"] = session.finish()
        if summary["exit_code"] != 0:
            outcome = 1
            summary["error"] = f"onboard exited with {summary['exit_code']}"
    except Timeout as error:
        outcome = 2
        summary["error"] = f"timed out after {args.timeout:.0f} s: {error}"
    except Mismatch as error:
        outcome = 1
        summary["error"] = str(error)
    finally:
        session.kill()
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["key_echoed"] = args.key in session.text()
    if summary["key_echoed"]:
        outcome = outcome or 1
        summary.setdefault("error", "the hidden key appeared in the terminal output")
    summary["transcript"] = session.text()
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    sys.exit(outcome)


if __name__ == "__main__":
    main()
