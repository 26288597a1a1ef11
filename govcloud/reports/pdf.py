"""Markdown evidence as a PDF a person can read and file (issue 19: a drill's evidence record).

``markdown_to_pdf(markdown, title=...)`` renders the Markdown that evidence is written in —
headings, paragraphs, bullet and numbered lists, pipe tables, inline code, bold, code blocks,
quotes and rules — onto A4 pages, the title at the top and ``title — page N`` in every footer.

* **Chinese text** (广东省公安厅) is set in WenQuanYi Micro Hei (Debian's fonts-wqy-microhei),
  embedded as a subset, so the PDF shows it on any viewer and ``pdftotext`` gives it back; its
  monospaced face sets inline code. The font has one weight: bold text is drawn with its
  glyphs' outlines stroked too (``_Text``), italic is upright. No font file:
  ``PermanentError`` naming the package.
* **Everything is text**: the Markdown parser's HTML is off and every piece of text is escaped
  for reportlab's paragraph markup, so ``<script>``, ``<img src=...>`` or ``%PDF`` show as
  written; control characters show as ``\\x1b`` (``domain.text.printable``); a link shows its
  text and its address, never as a live link; an image as its alt text.
* **Tables** follow GitHub's rules: a row with fewer cells than the header is padded, extra
  cells are dropped. A table wider than ``MAX_TABLE_COLUMNS`` columns, or with a row taller
  than a page, is set as one list of ``header: cell`` lines per row instead.
* **Deterministic**: the same input gives the same bytes (reportlab's invariant mode: a fixed
  creation date and document id), so a digest of the evidence is stable.
* **Bounded**: at most ``MAX_MARKDOWN_BYTES`` of Markdown (UTF-8) and a one-line title of at
  most ``MAX_TITLE_CHARS``, else ``InvalidInput`` with a hint.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfgen.textobject import PDFTextObject
from reportlab.platypus import (
    Flowable,
    HRFlowable,
    Indenter,
    ListFlowable,
    ListItem,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from govcloud.domain.text import check_text, printable
from govcloud.errors import InvalidInput, PermanentError, TooLarge

MAX_MARKDOWN_BYTES = 2 * 1024 * 1024  # 2 MiB: a drill's evidence is a few pages
MAX_TITLE_CHARS = 200
MAX_TABLE_COLUMNS = 12  # wider tables are set as lists: a column must hold a word

# Debian's WenQuanYi fonts: TrueType collections whose face 0 is proportional, face 1 monospaced
# (fonts-wqy-microhei first; fonts-wqy-zenhei would do as well).
FONT_FILES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)
FONT_PACKAGE = "fonts-wqy-microhei"
_BODY = "govcloud-cjk"
_BOLD = "govcloud-cjk-bold"  # the body face again, drawn bold by _Text
_MONO = "govcloud-cjk-mono"
_BOLD_STROKE = 0.035  # the outline drawn around bold glyphs, as a share of the font size

_PAGE_W, _PAGE_H = A4
_MARGIN = 18 * mm
_FRAME_W = _PAGE_W - 2 * _MARGIN
_FRAME_H = _PAGE_H - 2 * _MARGIN
_CELL_PAD = 3  # points each side of a table cell
_INDENT = 14  # points a list's or a quote's content is indented
_INK = colors.HexColor("#222222")
_CODE_BACK = "#eeeeee"
_CHUNK = 2000  # characters of markup in one reportlab paragraph (see _inline_chunks)
_KEEP_WITH_NEXT = 300  # characters of markup of a heading kept with what follows (_set)

_PARSER = MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_to_pdf(markdown: str, *, title: str, figures: Sequence[Flowable] = ()) -> bytes:
    """``markdown`` rendered as a PDF titled ``title`` (module docstring: what is rendered);
    ``figures`` (charts, ``reports.charts``) are drawn between the title and the text."""
    return _render(markdown, title, subject="", figures=figures)


def evidence_pdf(markdown: str, title: str) -> bytes:
    """A DR drill's evidence record (Markdown) as its PDF, the subject saying what it is."""
    return _render(markdown, title, subject="govcloud disaster-recovery evidence (GB/T 20988)")


def _render(markdown: str, title: str, *, subject: str,
            figures: Sequence[Flowable] = ()) -> bytes:
    _check_input(markdown, title)
    _register_fonts()
    styles = _styles()
    tree = SyntaxTreeNode(_PARSER.parse(markdown))
    story: list[Flowable] = [Paragraph(escape(title), styles.title), *figures]
    story.extend(_Blocks(styles).of(tree))
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=_MARGIN, rightMargin=_MARGIN, topMargin=_MARGIN,
        bottomMargin=_MARGIN, title=title, author="govcloud", creator="govcloud",
        producer="govcloud (reportlab)", subject=subject, invariant=1, lang="zh-CN",
        initialFontName=_BODY,  # else every page names Helvetica, a font not embedded
    )

    def footer(canvas: Canvas, _doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(_BODY, 7.5)
        canvas.setFillColor(colors.grey)
        page = f"page {canvas.getPageNumber()}"
        room = _FRAME_W - pdfmetrics.stringWidth(page, _BODY, 7.5) - 12
        canvas.drawString(_MARGIN, _MARGIN / 2, _fit(title, room, 7.5))
        canvas.drawRightString(_PAGE_W - _MARGIN, _MARGIN / 2, page)
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer, canvasmaker=_Canvas)
    return out.getvalue()


def _check_input(markdown: str, title: str) -> None:
    size = len(markdown.encode("utf-8", "surrogatepass"))
    if size > MAX_MARKDOWN_BYTES:
        raise TooLarge(
            f"the report's Markdown is {size} bytes, over the limit of {MAX_MARKDOWN_BYTES}",
            hint="keep the evidence to its summary and tables; attach long logs as files "
                 "and name them in the report")
    check_text(title, "the report's title")
    if not title.strip() or len(title) > MAX_TITLE_CHARS:
        raise InvalidInput(
            f"the report's title must be 1-{MAX_TITLE_CHARS} characters, not {len(title)}",
            hint="name the department, the system and the drill, e.g. '广东省公安厅 case: "
                 "drill 2026-12-07'")


def _fit(text: str, width: float, size: float) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` points in the body font."""
    if pdfmetrics.stringWidth(text, _BODY, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", _BODY, size) > width:
        text = text[:-1]
    return text + "…"


@functools.cache
def _register_fonts() -> Path:
    """Register the CJK font's two faces with reportlab once; the font file used."""
    path = next((p for p in FONT_FILES if p.is_file()), None)
    if path is None:
        raise PermanentError(
            "no Chinese font for PDF reports: none of " + ", ".join(map(str, FONT_FILES)),
            hint=f"install the Debian package {FONT_PACKAGE} (make apt installs it)")
    for name, face in ((_BODY, 0), (_BOLD, 0), (_MONO, 1)):
        pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=face))
    # one weight: <b> is the bold alias (_Text draws it bold), <i> the face itself
    pdfmetrics.registerFontFamily(_BODY, normal=_BODY, bold=_BOLD, italic=_BODY,
                                  boldItalic=_BOLD)
    pdfmetrics.registerFontFamily(_MONO, normal=_MONO, bold=_MONO, italic=_MONO,
                                  boldItalic=_MONO)
    return path


class _Text(PDFTextObject):
    """A text object that draws the bold alias of the font bold: the glyphs' outlines stroked
    as well as filled (text render mode 2), since the font has a single weight. Paragraphs
    set fonts through ``_setFont`` (reportlab's, not in its stubs) and ``setFont``."""

    _emboldened = False

    def setFont(self, psfontname: str, size: float, leading: float | None = None) -> None:
        super().setFont(psfontname, size, leading)
        self._embolden(psfontname, size)

    def _setFont(self, psfontname: str, size: float) -> None:
        super()._setFont(psfontname, size)  # type: ignore[misc]  # reportlab has it, its stubs not
        self._embolden(psfontname, size)

    def _embolden(self, psfontname: str, size: float) -> None:
        if psfontname == _BOLD:
            self.setTextRenderMode(2)
            code: list[str] = vars(self)["_code"]  # the operators; no public way to add `w`
            code.append(f"{size * _BOLD_STROKE:.3f} w")
            self._emboldened = True
        elif self._emboldened:
            self.setTextRenderMode(0)
            self._emboldened = False


class _Canvas(Canvas):
    def beginText(self, x: float = 0, y: float = 0,
                  direction: Literal["LTR", "RTL"] | None = None) -> PDFTextObject:
        return _Text(self, x, y, direction=direction)


@dataclass(frozen=True)
class _Styles:
    title: ParagraphStyle
    headings: tuple[ParagraphStyle, ...]  # h1..h6
    body: ParagraphStyle
    cell: ParagraphStyle
    head_cell: ParagraphStyle
    code: ParagraphStyle


def _styles() -> _Styles:
    body = ParagraphStyle("body", fontName=_BODY, fontSize=10, leading=14.5, textColor=_INK,
                          alignment=TA_LEFT, wordWrap="CJK", spaceAfter=5)
    sizes = (17, 14.5, 12.5, 11, 10.5, 10)
    headings = tuple(
        ParagraphStyle(f"h{n + 1}", parent=body, fontSize=size, leading=size * 1.35,
                       spaceBefore=8 if n else 10, spaceAfter=5, textColor=colors.black,
                       keepWithNext=1)
        for n, size in enumerate(sizes))
    title = ParagraphStyle("title", parent=body, fontSize=20, leading=26, spaceAfter=10,
                           textColor=colors.black)
    cell = ParagraphStyle("cell", parent=body, fontSize=8.5, leading=11.5, spaceAfter=0)
    head_cell = ParagraphStyle("head", parent=cell, textColor=colors.black)
    code = ParagraphStyle("code", parent=body, fontName=_MONO, fontSize=8.5, leading=11.5,
                          backColor=colors.HexColor(_CODE_BACK), borderPadding=4,
                          spaceBefore=4, spaceAfter=8)
    return _Styles(title, headings, body, cell, head_cell, code)


def _inline(node: SyntaxTreeNode) -> str:
    """An inline node's children as reportlab paragraph markup, every text escaped."""
    return "".join(_atoms(node))


def _inline_chunks(node: SyntaxTreeNode) -> list[str]:
    """An inline node as markup cut into pieces of about ``_CHUNK`` characters, each whole
    (``_atoms``), so a long paragraph is set as several: reportlab re-wraps the rest of a
    paragraph at every page it splits, which takes minutes for a page-long line."""
    chunks = [""]
    for atom in _atoms(node):
        if chunks[-1] and len(chunks[-1]) + len(atom) > _CHUNK:
            chunks.append("")
        chunks[-1] += atom
    return chunks


def _text(value: str) -> str:
    return escape(printable(value))


def _pieces(value: str) -> list[str]:
    """``value`` cut into pieces of at most ``_CHUNK`` characters, each escaped."""
    return [_text(value[i:i + _CHUNK]) for i in range(0, len(value), _CHUNK)]


def _atoms(node: SyntaxTreeNode) -> list[str]:
    """An inline node's children as whole pieces of markup (every tag they open closed in
    them), no text longer than ``_CHUNK`` in one: bold text is each piece in ``<b>``."""
    out: list[str] = []
    for child in node.children:
        kind = child.type
        if kind == "text":
            out.extend(_pieces(child.content))
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("<br/>")
        elif kind == "strong":
            out.extend(f"<b>{a}</b>" for a in _atoms(child))
        elif kind == "em":
            out.extend(f"<i>{a}</i>" for a in _atoms(child))
        elif kind == "code_inline":
            out.extend(f'<font face="{_MONO}" backColor="{_CODE_BACK}">{p}</font>'
                       for p in _pieces(child.content))
        elif kind == "link":
            href = str(child.attrs.get("href", ""))
            out.extend(_atoms(child))
            out.extend([" (", *_pieces(href), ")"] if href else [])
        elif kind == "image":
            out.extend(["[", *(_atoms(child) or ["image"]), "]"])
        else:
            out.extend(_atoms(child) if child.children else _pieces(child.content))
    return out


def _set(chunks: list[str], style: ParagraphStyle) -> list[Flowable]:
    """One paragraph's markup in chunks as that many paragraphs with no space between them; a
    long one (a heading) not kept with what follows: reportlab loops forever on a
    kept-with-next paragraph taller than a page."""
    if len(chunks) == 1 and len(chunks[0]) <= _KEEP_WITH_NEXT:
        return [Paragraph(chunks[0], style)]
    last = len(chunks) - 1
    return [Paragraph(chunk, ParagraphStyle(
                f"{style.name}-{n}", parent=style, keepWithNext=0,
                spaceBefore=style.spaceBefore if n == 0 else 0,
                spaceAfter=style.spaceAfter if n == last else 0))
            for n, chunk in enumerate(chunks)]


class _Blocks:
    """Markdown's block nodes as reportlab flowables, ``width`` points wide (the frame less
    the indents of the lists and quotes they are in)."""

    def __init__(self, styles: _Styles, width: float = _FRAME_W) -> None:
        self.styles = styles
        self.width = width

    def indented(self) -> _Blocks:
        return _Blocks(self.styles, max(self.width - _INDENT, _FRAME_W / 4))

    def of(self, node: SyntaxTreeNode) -> list[Flowable]:
        out: list[Flowable] = []
        for child in node.children:
            out.extend(self.block(child))
        return out

    def block(self, node: SyntaxTreeNode) -> list[Flowable]:
        kind = node.type
        if kind == "heading":
            level = min(int(node.tag[1:]), 6)
            return self.paragraph(node.children[0], self.styles.headings[level - 1])
        if kind == "paragraph":
            return self.paragraph(node.children[0], self.styles.body)
        if kind in ("bullet_list", "ordered_list"):
            return [self.listing(node)]
        if kind == "table":
            return self.table(node)
        if kind in ("fence", "code_block"):
            return _set(_code_chunks(node.content), self.styles.code)
        if kind == "blockquote":
            return [Indenter(left=_INDENT), *self.indented().of(node), Indenter(left=-_INDENT)]
        if kind == "hr":
            return [HRFlowable(width="100%", thickness=0.5, color=colors.grey,
                               spaceBefore=4, spaceAfter=8)]
        if node.children:
            return self.of(node)
        return _set(_code_chunks(node.content), self.styles.body) if node.content.strip() else []

    def paragraph(self, inline: SyntaxTreeNode, style: ParagraphStyle) -> list[Flowable]:
        """One paragraph (or heading), set as several when it is long (_inline_chunks)."""
        return _set(_inline_chunks(inline), style)

    def listing(self, node: SyntaxTreeNode) -> ListFlowable:
        # ListFlowable takes ListItems, which are no Flowable (the stubs say it takes only those)
        inner = self.indented()
        items: list[Any] = [ListItem(inner.of(item) or [Spacer(0, 0)]) for item in node.children]
        style: dict[str, Any] = {"bulletFontName": _BODY, "bulletFontSize": 9,
                                 "leftIndent": _INDENT, "spaceAfter": 4}
        if node.type == "ordered_list":
            start = node.attrs.get("start", 1)
            return ListFlowable(items, bulletType="1", start=str(start), bulletFormat="%s.",
                                **style)
        return ListFlowable(items, bulletType="bullet", start="•", **style)

    def table(self, node: SyntaxTreeNode) -> list[Flowable]:
        rows = [[_inline_chunks(cell.children[0]) if cell.children else [""]
                 for cell in tr.children]
                for section in node.children for tr in section.children]
        if not rows or not rows[0]:
            return []
        if len(rows[0]) > MAX_TABLE_COLUMNS or any(len(c) > 1 for row in rows for c in row):
            return self.table_as_list(rows)
        texts = [[cell[0] for cell in row] for row in rows]
        widths = _column_widths(texts, self.width)
        cells = [[Paragraph(text, self.styles.head_cell if r == 0 else self.styles.cell)
                  for text in row] for r, row in enumerate(texts)]
        if any(_row_height(row, widths) > _FRAME_H * 0.9 for row in cells):
            return self.table_as_list(rows)
        table = Table(cells, colWidths=widths, repeatRows=1, hAlign="LEFT")
        table.setStyle(TableStyle([
            ("FONT", (0, 0), (-1, -1), _BODY, 8.5),  # else the table names Helvetica
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e8ee")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PAD),
            ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PAD),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]))
        return [table, Spacer(0, 6)]

    def table_as_list(self, rows: list[list[list[str]]]) -> list[Flowable]:
        """A table too wide or too tall for a page (rows of cells, each cell its markup in
        chunks): each row set as a list of ``header: cell``."""
        header = ["".join(cell) or "&nbsp;" for cell in rows[0]]
        out: list[Flowable] = []
        for n, row in enumerate(rows[1:], start=1):
            body = self.styles.body
            items: list[Any] = [
                ListItem([Paragraph(f"<b>{head}</b>: {cell[0]}", body),
                          *(Paragraph(more, body) for more in cell[1:])])
                for head, cell in zip(header, row, strict=True)]
            out.append(Paragraph(f"<b>row {n}</b>", body))
            out.append(ListFlowable(items, bulletType="bullet", start="•",
                                    bulletFontName=_BODY, leftIndent=_INDENT, spaceAfter=4))
        return out or [Paragraph(" | ".join(f"<b>{h}</b>" for h in header), self.styles.body)]


_SPACES = re.compile(r"^ +| {2,}")


def _keep_spaces(markup: str) -> str:
    """Leading spaces and runs of spaces kept (a paragraph collapses them): as no-break
    spaces after the first of a run, all of them at the start of a line."""
    return _SPACES.sub(lambda m: ("" if m.start() == 0 else " ")
                       + "&nbsp;" * (len(m.group()) - (m.start() != 0)), markup)


def _code_chunks(text: str) -> list[str]:
    """A code block as paragraph markup in pieces of about ``_CHUNK`` characters: its lines
    kept (a line longer than that cut into several), tabs expanded, spaces kept, all
    escaped."""
    lines: list[str] = []
    for line in text.rstrip("\n").split("\n"):
        line = line.expandtabs(8)
        pieces = [line[i:i + _CHUNK] for i in range(0, len(line), _CHUNK)] or [""]
        lines.extend(_keep_spaces(_text(piece)) for piece in pieces)
    chunks = [""]
    for line in lines:
        if chunks[-1] and len(chunks[-1]) + len(line) > _CHUNK:
            chunks.append("")
        chunks[-1] += ("<br/>" if chunks[-1] else "") + line
    return chunks


def _column_widths(rows: Iterable[list[str]], width: float) -> list[float]:
    """Widths sharing ``width`` by each column's longest cell (CJK counts double), each
    between a 4 and a 40 character share, so a long column wraps and a short one stays."""
    weights: list[float] = []
    for row in rows:
        for i, text in enumerate(row):
            weight = min(max(_display_len(text), 4), 40)
            if i == len(weights):
                weights.append(weight)
            else:
                weights[i] = max(weights[i], weight)
    total = sum(weights)
    return [width * w / total for w in weights]


_TAG = re.compile(r"<[^>]*>")
_ENTITY = re.compile(r"&[a-z]+;")


def _display_len(markup: str) -> int:
    """About how many Latin letters wide a cell's text is (its tags left out)."""
    text = _ENTITY.sub("x", _TAG.sub("", markup))
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _row_height(row: list[Paragraph], widths: list[float]) -> float:
    cells = zip(row, widths, strict=True)
    return max(p.wrap(w - 2 * _CELL_PAD, _FRAME_H)[1] for p, w in cells) + 5
