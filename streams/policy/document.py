"""A small document model (headings, paragraphs, lists, tables of inline runs) and its two renderers,
Markdown and one self-contained HTML file (inline CSS; no script, font, image or link fetched), so
that both forms of a published text say the same thing. Text is escaped in both.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# ---- the document model --------------------------------------------------------------------------


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


Run = str | Code | Strong
Inline = Sequence[Run]


@dataclass
class Block:
    kind: str  # h1, h2, h3, p, ul, ol, table
    runs: Inline = ()  # h*, p
    items: list[Inline] = field(default_factory=list)  # ul, ol
    header: list[str] = field(default_factory=list)  # table
    rows: list[list[Inline]] = field(default_factory=list)  # table


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def h(self, level: int, *runs: Run) -> None:
        self.blocks.append(Block(f"h{level}", runs))

    def p(self, *runs: Run) -> None:
        self.blocks.append(Block("p", runs))

    def ul(self, items: Iterable[Inline]) -> None:
        self.blocks.append(Block("ul", items=list(items)))

    def ol(self, items: Iterable[Inline]) -> None:
        self.blocks.append(Block("ol", items=list(items)))

    def table(self, header: list[str], rows: Iterable[list[Inline]]) -> None:
        self.blocks.append(Block("table", header=header, rows=list(rows)))


# ---- renderers -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md_text(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", text))


def _md(runs: Inline) -> str:
    out = []
    for r in runs:
        if isinstance(r, Code):
            text = r.text.replace("|", "\\|")  # a code span does not end a table cell
            out.append(f"`` {text} ``" if "`" in text else f"`{text}`")
        elif isinstance(r, Strong):
            out.append(f"**{_md_text(r.text)}**")
        else:
            out.append(_md_text(r))
    return "".join(out)


def render_markdown(doc: Document) -> str:
    lines: list[str] = []
    for b in doc.blocks:
        if b.kind.startswith("h"):
            lines += ["#" * int(b.kind[1]) + " " + _md(b.runs), ""]
        elif b.kind == "p":
            lines += [_md(b.runs), ""]
        elif b.kind in {"ul", "ol"}:
            lines += [f"{i}. " + _md(item) if b.kind == "ol" else "- " + _md(item) for i, item in enumerate(b.items, 1)]
            lines.append("")
        elif b.kind == "table":
            lines.append("| " + " | ".join(b.header) + " |")
            lines.append("|" + "---|" * len(b.header))
            lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in b.rows]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _html(runs: Inline) -> str:
    out = []
    for r in runs:
        if isinstance(r, Code):
            out.append(f"<code>{html.escape(r.text)}</code>")
        elif isinstance(r, Strong):
            out.append(f"<strong>{html.escape(r.text)}</strong>")
        else:
            out.append(html.escape(r))
    return "".join(out)


CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #1b1b1b; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; } h3 { margin-top: 1.5rem; }
code { font: 0.9em ui-monospace, monospace; background: #f3f3f3; padding: 0 0.2em; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem;
       text-align: left; vertical-align: top; } th { background: #f3f3f3; }
@media print { body { margin: 0; max-width: none; } }
"""


def render_html(doc: Document) -> str:
    """One self-contained file: inline CSS; no script, font, image or link fetched."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
    ]
    for b in doc.blocks:
        if b.kind.startswith("h") or b.kind == "p":
            parts.append(f"<{b.kind}>{_html(b.runs)}</{b.kind}>")
        elif b.kind in {"ul", "ol"}:
            parts.append(f"<{b.kind}>" + "".join(f"<li>{_html(item)}</li>" for item in b.items) + f"</{b.kind}>")
        elif b.kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{_html(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
