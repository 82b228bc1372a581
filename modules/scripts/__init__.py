"""The programs the platform's pods run, kept as files (shell and Python) so they can be read,
checked and tested as programs; `script()` reads one as a container's command gets it.

Each file starts with a header — the leading `#` lines (shebang, what the program does and why) and
the blank line after them — that documents it here and is not shipped: it would only grow the pod
spec. A template names the values its caller fills in as `@NAME@`, a form neither sh nor Python
uses."""
from __future__ import annotations

import re
from importlib import resources

PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def script(name: str, **values: str) -> str:
    """The program in this folder's file `name` as shipped (see `render`)."""
    return render(resources.files(__name__).joinpath(name).read_text(), name, values)


def render(text: str, name: str, values: dict[str, str]) -> str:
    """`text` (the file `name`) without its header, each `@NAME@` replaced by `values[NAME]`. Every
    placeholder must be given a value and every value must have its placeholder, so a template and
    its caller can't drift apart."""
    lines = text.splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    if header and lines[header : header + 1] == ["\n"]:
        header += 1
    body = "".join(lines[header:])
    wanted = set(PLACEHOLDER.findall(body))
    if wanted != set(values):
        raise ValueError(f"{name}: its placeholders are {sorted(wanted)}, values were given for {sorted(values)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], body)
