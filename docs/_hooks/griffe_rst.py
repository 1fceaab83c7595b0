"""A griffe extension for the docs build: the reST that numpyro_glm's docstrings use, as Markdown.

The docstrings are Google style ("Args:", "Returns:", "Example:") but, like NumPyro's,
write inline reST: ``:func:`~numpyro_glm.fit```, ``:math:`\\mu```, ``.. math::``
blocks and two simple tables. mkdocstrings renders docstrings as Markdown, so before
they are parsed this rewrites

* ``:math:`x``` as ``$x$`` and a ``.. math::`` block as a ``$$`` block (arithmatex);
* ``:func:``, ``:class:``, ``:mod:``, ``:meth:``, ``:attr:``, ... roles as code,
  linked (an optional autoref: no warning when the target is not rendered) when the
  target is an object of numpyro_glm;
* reST simple tables (``====  ====`` borders) as Markdown tables;
* doctest blocks (``>>>`` lines and their output) as fenced ``pycon`` code, so that
  Markdown leaves them alone (``tr["y"]["value"]`` is not a reference link) and they
  are highlighted, in "Example:" sections and elsewhere.

The source files are not changed. Configured in mkdocs.yml (``extensions:`` of the
python handler).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_PACKAGE = "numpyro_glm"
_ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|attr|data|obj|exc|const|math):`([^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*$")
_TABLE_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")
_DOCTEST_OR_TEXT = re.compile(r"(^[ \t]*```pycon\n.*?^[ \t]*```$)", flags=re.M | re.S)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != _PACKAGE:
            return
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _convert(obj.docstring.value, obj, pkg)


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield from _walk(member)


def _convert(text: str, obj: griffe.Object, pkg: griffe.Module) -> str:
    text = _math_blocks(text)
    text = _tables(text)
    pieces = _DOCTEST_OR_TEXT.split(_doctests(text))
    # Roles are rewritten outside the fenced doctests only.
    return "".join(
        piece if piece.lstrip().startswith("```pycon") else _ROLE.sub(lambda m: _role(m, obj, pkg), piece)
        for piece in pieces
    )


def _role(match: re.Match, obj: griffe.Object, pkg: griffe.Module) -> str:
    kind, content = match.group(1), match.group(2)
    if kind == "math":
        return f"${' '.join(content.split())}$"
    titled = re.fullmatch(r"(.*?)\s*<(.+)>", content, flags=re.S)
    if titled:
        title, target = titled.group(1), titled.group(2)
    else:
        target = content
        title = target.lstrip("~").rsplit(".", 1)[-1] if target.startswith("~") else target
    target = target.lstrip("~").removesuffix("()")
    code = f"<code>{html.escape(title)}</code>"
    path = _resolve(target, obj, pkg)
    if path is None:
        return f"`{title}`"
    return f'<autoref identifier="{path}" optional>{code}</autoref>'


def _resolve(target: str, obj: griffe.Object, pkg: griffe.Module) -> str | None:
    """The canonical path of a numpyro_glm object named by a role, if there is one."""
    candidates = [target]
    scope = obj if obj.is_module or obj.is_class else obj.parent
    while scope is not None:
        candidates.append(f"{scope.path}.{target}")
        scope = scope.parent
    for candidate in candidates:
        if candidate != _PACKAGE and not candidate.startswith(_PACKAGE + "."):
            continue
        try:
            found = pkg if candidate == _PACKAGE else pkg[candidate[len(_PACKAGE) + 1 :]]
            if found.is_alias:
                found = found.final_target
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        return found.path
    return None


def _math_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _MATH_DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group(1)
        body: list[str] = []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _width(lines[i]) > len(indent)):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        content = [line.strip() for line in body if line.strip()]
        out += [f"{indent}$$", *(indent + line for line in content), f"{indent}$$", ""]
    return "\n".join(out)


def _doctests(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith(">>>"):
            out.append(lines[i])
            i += 1
            continue
        indent = lines[i][: _width(lines[i])]
        # A blank line separates the code from a paragraph before it, but not from a
        # section title ("Example:") above it, which would end the section.
        if out and out[-1].strip() and _width(out[-1]) >= len(indent):
            out.append("")
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip() and _width(lines[i]) >= len(indent):
            out.append(lines[i])
            i += 1
        out += [f"{indent}```", ""]
    return "\n".join(out)


def _tables(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _TABLE_BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        border = lines[i]
        indent = border[: _width(border)]
        spans = [m.start() for m in re.finditer(r"=+", border)]
        block: list[list[str]] = []
        separators: list[int] = []  # row counts at the inner borders
        i += 1
        while i < len(lines) and lines[i].strip():
            if _TABLE_BORDER.match(lines[i]):
                separators.append(len(block))
                i += 1
                continue
            cells = [
                lines[i][start : spans[k + 1] if k + 1 < len(spans) else None].strip()
                for k, start in enumerate(spans)
            ]
            if block and not cells[0]:  # a continuation line
                block[-1] = [f"{a} {b}".strip() for a, b in zip(block[-1], cells)]
            else:
                block.append(cells)
            i += 1
        # The closing border was read as a separator; a header exists when another
        # border follows the first row(s).
        header_rows = separators[0] if len(separators) > 1 else 0
        header = block[:header_rows][0] if header_rows else [""] * len(spans)
        body = block[header_rows:]
        out.append(indent + "| " + " | ".join(header) + " |")
        out.append(indent + "|" + "---|" * len(spans))
        out += [indent + "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(out)


def _width(line: str) -> int:
    return len(line) - len(line.lstrip())
