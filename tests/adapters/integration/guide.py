"""Running docs/integrators.md as a reader would: its fenced blocks, each marked by an HTML
comment just above it, and a small interpreter for the shell the run blocks use.

Markers (`<!-- guide: ... -->`):
- `run`: shell commands, run in order with shared variables. `safehub ...` runs the real
  command; `curl ...` is sent with httpx, same method, headers and body, to the in-process app
  behind the URL's port; `| python3 -c '...'` runs for real on curl's output.
- `answer`: what the run block above answers: `HTTP/1.1 <status> <reason>`, the headers
  shown, then the JSON body; or, after a `safehub` command, its exact output.
- `file NAME`: a file the next commands read (`curl -F file=@NAME`).
- `shape COMPONENT (why not run)`: a JSON answer that cannot be produced here, checked
  against the OpenAPI component it documents.

In an answer, `"..."` stands for any value, a string ending in `...` for any string it
begins, and a list ending in `"..."` for any further items.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = [
    "Answer",
    "Block",
    "CurlResult",
    "Shell",
    "blocks",
    "matches",
    "parse_answer",
]

_BLOCK = re.compile(
    r"(?:<!-- guide: (?P<marker>.*?) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)\n```", re.S
)


@dataclass(frozen=True)
class Block:
    marker: str | None
    lang: str
    body: str
    line: int


def blocks(markdown: str) -> list[Block]:
    found: list[Block] = []
    for match in _BLOCK.finditer(markdown):
        line = markdown.count("\n", 0, match.start("lang")) + 1
        found.append(Block(match["marker"], match["lang"], match["body"], line))
    return found


@dataclass(frozen=True)
class CurlResult:
    status: int
    reason: str
    headers: httpx.Headers
    body: str
    include_headers: bool

    def text(self) -> str:
        if not self.include_headers:
            return self.body
        head = [f"HTTP/1.1 {self.status} {self.reason}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        return "\n".join(head) + "\n\n" + self.body


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: dict[str, str]
    body: Any


def parse_answer(text: str) -> Answer:
    first, _, rest = text.partition("\n")
    match = re.fullmatch(r"HTTP/1\.1 (\d{3}) (.+)", first)
    assert match, f"an answer starts with the status line: {first!r}"
    headers: dict[str, str] = {}
    lines = rest.split("\n")
    while lines and not lines[0].startswith(("{", "[")):
        name, _, value = lines.pop(0).partition(": ")
        headers[name.lower()] = value
    return Answer(int(match[1]), match[2], headers, json.loads("\n".join(lines)))


def matches(documented: Any, real: Any) -> bool:
    if documented == "...":
        return True
    if isinstance(documented, str) and documented.endswith("...") and isinstance(real, str):
        return real.startswith(documented[:-3])
    if isinstance(documented, dict):
        return (
            isinstance(real, dict)
            and documented.keys() == real.keys()
            and all(matches(v, real[k]) for k, v in documented.items())
        )
    if isinstance(documented, list):
        if not isinstance(real, list):
            return False
        if documented and documented[-1] == "...":
            head = documented[:-1]
            return len(real) >= len(head) and all(map(matches, head, real))
        return len(documented) == len(real) and all(map(matches, documented, real))
    return bool(documented == real)


Send = Callable[[int, httpx.Request], Awaitable[httpx.Response]]
"""Send a request to the app listening (in the guide) on a port."""


@dataclass
class Shell:
    """Just enough of a POSIX shell for the guide's blocks."""

    safehub: list[str]
    cwd: Path
    environ: Mapping[str, str]
    send: Send
    variables: dict[str, str] = field(default_factory=dict)
    last: str | CurlResult | None = None

    async def run(self, body: str) -> None:
        for command, stdin in _commands(body):
            assignment = re.fullmatch(r"(\w+)=(.*)", command, re.S)
            if assignment and assignment[2].startswith("$(") and assignment[2].endswith(")"):
                output = await self._pipeline(assignment[2][2:-1], stdin)
                self.variables[assignment[1]] = _text(output).strip()
            elif assignment and " " not in assignment[2]:
                self.variables[assignment[1]] = self._expand(assignment[2])
            else:
                self.last = await self._pipeline(command, stdin)

    async def _pipeline(self, command: str, stdin: str | None) -> str | CurlResult:
        lexer = shlex.shlex(self._expand(command), posix=True, punctuation_chars="|")
        lexer.whitespace_split = True
        stages: list[list[str]] = [[]]
        for token in lexer:
            if token == "|":
                stages.append([])
            else:
                stages[-1].append(token)
        output: str | CurlResult | None = None
        for stage in stages:
            piped = stdin if output is None else _text(output)
            output = await self._stage(stage, piped)
        assert output is not None
        return output

    async def _stage(self, argv: list[str], stdin: str | None) -> str | CurlResult:
        program, *args = argv
        if program == "curl":
            return await self._curl(args, stdin)
        if program == "safehub":
            return self._process([*self.safehub, *args], stdin)
        if program == "python3":
            return self._process(["python3", *args], stdin)
        raise AssertionError(f"the guide runs {program!r}, which this test does not know")

    def _process(self, argv: list[str], stdin: str | None) -> str:
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=dict(self.environ),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{' '.join(argv[:4])}: {done.stderr}"
        return done.stdout

    async def _curl(self, args: list[str], stdin: str | None) -> CurlResult:
        method: str | None = None
        headers: list[tuple[str, str]] = []
        data: list[str] = []
        form: dict[str, str] = {}
        files: dict[str, tuple[str, bytes]] = {}
        include = False
        url = ""
        items = iter(args)
        for arg in items:
            if arg in ("-s", "-S", "-sS"):
                continue
            if arg == "-i":
                include = True
            elif arg == "-X":
                method = next(items)
            elif arg == "-H":
                name, _, value = next(items).partition(": ")
                headers.append((name, value))
            elif arg in ("-d", "--data"):
                value = next(items)
                data.append((stdin or "") if value == "@-" else value)
            elif arg == "-F":
                name, _, value = next(items).partition("=")
                if value.startswith("@"):
                    files[name] = (value[1:], (self.cwd / value[1:]).read_bytes())
                else:
                    form[name] = value
            elif arg.startswith("-"):
                raise AssertionError(f"curl option {arg} is not known to this test")
            else:
                url = arg
        parts = urlsplit(url)
        assert parts.port is not None, url
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request_headers = dict(headers)
        if files or form:
            request = httpx.Request(
                method or "POST", path, headers=request_headers, data=form, files=files
            )
        elif data:
            request_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            body = "&".join(data).encode("utf-8")
            request = httpx.Request(method or "POST", path, headers=request_headers, content=body)
        else:
            request = httpx.Request(method or "GET", path, headers=request_headers)
        response = await self.send(parts.port, request)
        return CurlResult(
            response.status_code, response.reason_phrase, response.headers, response.text, include
        )

    def _expand(self, text: str) -> str:
        """$NAME and ${NAME} outside single quotes, as the shell does."""
        out: list[str] = []
        for index, piece in enumerate(re.split(r"('[^']*')", text)):
            if index % 2:
                out.append(piece)
                continue
            out.append(
                re.sub(
                    r"\$\{?(\w+)\}?",
                    lambda m: self.variables.get(m[1], ""),
                    piece,
                )
            )
        return "".join(out)


def _text(output: str | CurlResult) -> str:
    return output if isinstance(output, str) else output.text()


def _commands(body: str) -> Iterator[tuple[str, str | None]]:
    """Logical commands: continuation lines joined, a quoted here-document as stdin."""
    lines = body.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + lines[index].strip()
            index += 1
        stdin: str | None = None
        heredoc = re.search(r"<<'(\w+)'", line)
        if heredoc:
            end = lines.index(heredoc[1], index)
            stdin = "\n".join(lines[index:end]) + "\n"
            index = end + 1
            line = line[: heredoc.start()].rstrip()
        yield line, stdin
