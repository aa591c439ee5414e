"""A small Dockerfile reader: instructions (continuations joined, comments dropped) grouped by build stage."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str
    arguments: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form ``CMD``/``ENTRYPOINT``/``HEALTHCHECK ... CMD``, else ``None``."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1] if " CMD " in text else ""
        text = text.strip()
        return json.loads(text) if text.startswith("[") else None

    def flags(self) -> dict[str, str]:
        """``--name=value`` flags of ``COPY``/``FROM``/``RUN``."""
        return dict(re.findall(r"--([\w-]+)=(\S+)", self.arguments))

    def words(self) -> list[str]:
        """The arguments after the flags (shell words)."""
        return [word for word in shlex.split(self.arguments) if not word.startswith("--")]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    def lineage(self, stage: Stage) -> list[Stage]:
        """``stage`` and the stages it is built ``FROM``, nearest first."""
        chain = [stage]
        names = {s.name for s in self.stages}
        while chain[-1].base in names:
            chain.append(self.stage(chain[-1].base))
        return chain

    def effective(self, stage: Stage, keyword: str) -> Instruction | None:
        """The instruction in force in ``stage`` (its own, else inherited from the stage it is built on)."""
        for ancestor in self.lineage(stage):
            found = ancestor.last(keyword)
            if found is not None:
                return found
        return None


def parse(path: Path) -> Dockerfile:
    logical: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        logical.append((start, pending + stripped))
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, text in logical:
        keyword, _, arguments = text.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip(), number)
        if instruction.keyword == "ARG" and not stages:
            name, _, default = instruction.arguments.partition("=")
            args[name] = default
        elif instruction.keyword == "FROM":
            words = [w for w in instruction.arguments.split() if not w.startswith("--")]
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif stages:
            stages[-1].instructions.append(instruction)
    return Dockerfile(args, stages)
