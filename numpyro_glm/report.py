"""A small report document written as Markdown and as one self-contained HTML file.

Use it to turn the demo's tables and figures into ``report.md`` and ``report.html``
from the same content, with no Markdown package: a :class:`Report` is a list of
blocks (headings, paragraphs, preformatted text, tables, figures), and each writer
renders every block its own way. The HTML embeds the PNG figures (base64), so it can
be mailed or opened anywhere; the Markdown links them.

Example:
    >>> import tempfile
    >>> from numpyro_glm.report import Report
    >>> report = Report("Demo")
    >>> report.paragraph("Two numbers.")
    >>> report.table(["name", "value"], [["a", 1.0], ["b", 2.5]])
    >>> md, html = report.write(tempfile.mkdtemp())
    >>> print(md.read_text().splitlines()[4])
    | name | value |
"""

from __future__ import annotations

import base64
import html
import math
import pathlib

__all__ = ["Report", "format_number"]


def format_number(value, digits: int = 4) -> str:
    """A table cell: ints as they are, floats to ``digits`` significant digits, NaN as "NA".

    Example:
        >>> format_number(3.14159), format_number(12), format_number(float("nan"))
        ('3.142', '12', 'NA')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(value):
        return "NA" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == round(value) and abs(value) < 1e15:
        return str(int(value)) if abs(value) >= 1 or value == 0 else f"{value:.{digits}g}"
    return f"{value:.{digits}g}"


class Report:
    """A document built block by block, written as Markdown and HTML.

    Args:
        title: the level-1 heading.
    """

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple] = []

    def heading(self, text: str) -> None:
        """A section heading (level 2)."""
        self.blocks.append(("h2", text))

    def paragraph(self, text: str) -> None:
        """A paragraph of plain text (Markdown's `code` spans are kept as code in HTML)."""
        self.blocks.append(("p", text))

    def preformatted(self, text: str) -> None:
        """Monospaced text, e.g. a printed summary table."""
        self.blocks.append(("pre", text))

    def table(self, header, rows, digits: int = 4) -> None:
        """A table: ``header`` a list of column names, ``rows`` a list of lists of cells
        (numbers are formatted to ``digits`` significant digits)."""
        cells = [[format_number(c, digits) for c in row] for row in rows]
        self.blocks.append(("table", [str(h) for h in header], cells))

    def figure(self, path, caption: str) -> None:
        """A PNG figure, by its path (written into the report folder beforehand)."""
        self.blocks.append(("figure", pathlib.Path(path), caption))

    # ------------------------------------------------------------------ writers

    def markdown(self) -> str:
        """The report as Markdown (figures linked by file name)."""
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "h2":
                out += [f"## {block[1]}", ""]
            elif kind == "p":
                out += [block[1], ""]
            elif kind == "pre":
                out += ["```", block[1].rstrip("\n"), "```", ""]
            elif kind == "table":
                header, rows = block[1], block[2]
                out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
                out.append("|" + "|".join("---" for _ in header) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                out.append("")
            elif kind == "figure":
                out += [f"![{block[2]}]({block[1].name})", "", f"*{block[2]}*", ""]
        return "\n".join(out)

    def html(self) -> str:
        """The report as one HTML page, figures embedded as base64 PNGs."""
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for block in self.blocks:
            kind = block[0]
            if kind == "h2":
                body.append(f"<h2>{html.escape(block[1])}</h2>")
            elif kind == "p":
                body.append(f"<p>{_inline_code(block[1])}</p>")
            elif kind == "pre":
                body.append(f"<pre>{html.escape(block[1])}</pre>")
            elif kind == "table":
                header, rows = block[1], block[2]
                head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
                lines = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>")
            elif kind == "figure":
                path, caption = block[1], block[2]
                if path.exists():
                    data = base64.b64encode(path.read_bytes()).decode("ascii")
                    src = f"data:image/png;base64,{data}"
                else:
                    src = html.escape(path.name)
                body.append(f'<figure><img src="{src}" alt="{html.escape(caption)}">'
                            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        return _HTML_PAGE.format(title=html.escape(self.title), body="\n".join(body))

    def write(self, folder) -> tuple[pathlib.Path, pathlib.Path]:
        """Write ``report.md`` and ``report.html`` into ``folder`` (created if needed).

        Returns:
            The two paths (Markdown, HTML).
        """
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        md, page = folder / "report.md", folder / "report.html"
        md.write_text(self.markdown(), encoding="utf-8")
        page.write_text(self.html(), encoding="utf-8")
        return md, page


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _inline_code(text: str) -> str:
    """Escape text for HTML, turning Markdown's `code` spans into <code>."""
    parts = text.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
pre {{ background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }}
img {{ max-width: 100%; }}
figcaption {{ font-style: italic; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
