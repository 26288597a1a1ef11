"""Evidence PDFs render (issue 19): poppler rasterises every page with ink on it and gives back
the Chinese names and table cells as text; every font is embedded; hostile Markdown renders
as the text it is; the same input gives the same bytes; the input is bounded.

Needs poppler-utils (``pdftoppm``, ``pdftotext``, ``pdffonts``) and fonts-wqy-microhei, both in
the Makefile's APT_PACKAGES."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from govcloud.errors import InvalidInput, PermanentError, TooLarge
from govcloud.reports import pdf
from govcloud.reports.pdf import MAX_MARKDOWN_BYTES, evidence_pdf, markdown_to_pdf

EVIDENCE = """\
## 演练摘要 Drill summary

**部门** 广东省公安厅 (`gd-psd`), system `case`, DR level 5.

- started: 2026-12-07 10:00 UTC
- result: **passed**, achieved RTO `1h 12m`

| 站点 site | 副本 copy | 状态 state | RPO |
| --- | --- | --- | --- |
| DR-LOCAL | hot | 已恢复 recovered | 10m |
| DR-REMOTE | cold | 未演练 not drilled | 2h |

1. 清理 cleanup: `0 leftovers`
2. 审计 audit entry 42

```text
$ ping -c1 case-vm-1
```
"""


@pytest.fixture(scope="module", autouse=True)
def poppler() -> None:
    missing = [t for t in ("pdftoppm", "pdftotext", "pdffonts") if shutil.which(t) is None]
    assert not missing, f"{missing} missing: install poppler-utils (make apt)"


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    return path


def _text(path: Path) -> str:
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                          text=True, check=True, timeout=60)
    return done.stdout


def _page_ink(path: Path, tmp_path: Path) -> list[float]:
    """The share of dark pixels on each page, rasterised by pdftoppm (greyscale, 40 dpi)."""
    subprocess.run(["pdftoppm", "-r", "40", "-gray", str(path), str(tmp_path / "page")],
                   check=True, capture_output=True, timeout=120)
    shares = []
    for page in sorted(tmp_path.glob("page*.pgm")):
        magic, width, height, maxval, pixels = _pgm(page.read_bytes())
        assert magic == b"P5" and maxval == 255
        assert len(pixels) == width * height
        shares.append(sum(1 for p in pixels if p < 128) / len(pixels))
    return shares


def _pgm(data: bytes) -> tuple[bytes, int, int, int, bytes]:
    fields = data.split(maxsplit=4)
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3]), fields[4]


def test_the_evidence_renders_with_ink_and_its_text(tmp_path: Path) -> None:
    path = _write(tmp_path, evidence_pdf(EVIDENCE, "广东省公安厅 case: 演练 2026-12-07"))
    ink = _page_ink(path, tmp_path)
    assert len(ink) == 1
    assert ink[0] > 0.003  # a blank page has none; this one has a title, text and a table
    text = _text(path)
    for expected in ("广东省公安厅 case: 演练 2026-12-07", "演练摘要 Drill summary",
                     "部门 广东省公安厅 (gd-psd)", "DR-LOCAL", "已恢复 recovered", "未演练",
                     "achieved RTO 1h 12m", "清理 cleanup: 0 leftovers", "$ ping -c1 case-vm-1",
                     "page 1"):
        assert expected in text, expected
    assert "**" not in text and "`" not in text and "| ---" not in text


def test_chinese_glyphs_are_drawn_from_the_embedded_font(tmp_path: Path) -> None:
    """Only Chinese on the page: ink means its glyphs were drawn; every font is embedded, so
    any viewer shows the same."""
    path = _write(tmp_path, markdown_to_pdf("广东省公安厅\n\n" * 40, title="广东省"))
    assert _page_ink(path, tmp_path)[0] > 0.003
    path = _write(tmp_path, evidence_pdf(EVIDENCE, "t"))  # lists, tables, code, bold
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert len(fonts) == 2, fonts  # the proportional face and the monospaced one
    for line in fonts:  # name type encoding emb sub uni ...
        assert line.split()[-5:-2] == ["yes", "yes", "yes"], line


def test_more_pages_each_with_ink_and_numbered(tmp_path: Path) -> None:
    rows = "".join(f"| case-vm-{n} | 广州市政务服务数据管理局 | ok |\n" for n in range(150))
    markdown = "| server | 部门 | state |\n| --- | --- | --- |\n" + rows
    path = _write(tmp_path, markdown_to_pdf(markdown, title="t"))
    ink = _page_ink(path, tmp_path)
    assert len(ink) >= 3 and min(ink) > 0.003
    text = _text(path)
    assert "case-vm-0" in text and "case-vm-149" in text
    assert f"page {len(ink)}" in text
    assert text.count("server") == len(ink)  # the header row repeats on every page


HOSTILE = {
    "a long line of Chinese": ("广东" * 20000, ["广东广东"]),
    "a long word": ("x" * 50000, ["xxxxxxxx"]),
    "markup-like text": ('<script>alert("x")</script> <img src="file:///etc/passwd"/> '
                         "<b>not bold</b> &amp; &lt; %PDF-1.4 %%EOF <br/> <para>",
                         ['<script>alert("x")</script>', '<img src="file:///etc/passwd"/>',
                          # Markdown's own entities are decoded, as any Markdown viewer does
                          "<b>not bold</b> & < %PDF-1.4 %%EOF <br/> <para>"]),
    "markup in a table and in code": (
        "| <b> | %PDF |\n| --- | --- |\n| </font> | `<br/>` |\n\n```\n<font x='\n```\n",
        ["<b>", "%PDF", "</font>", "<br/>", "<font x='"]),
    "ragged rows": ("| a | b | c |\n| --- | --- | --- |\n| 1 |\n| 1 | 2 | 3 | 4 | 5 |\n"
                    "| | | |\n", ["a", "b", "c", "1", "2", "3"]),
    "a table of 40 columns": ("|" + "|".join(f"h{i}" for i in range(40)) + "|\n|"
                              + "---|" * 40 + "\n|" + "|".join(f"c{i}" for i in range(40))
                              + "|\n", ["h39: c39", "row 1"]),
    "a table cell taller than a page": (
        "| a | b |\n| --- | --- |\n| " + "很长的单元格" * 2000 + " | end |\n",
        ["b: end", "很长的单元格"]),
    "control characters": ("a\x1b[2J b \u202e c \x07 d \ud800 e \x00 f",
                           ["\\x1b[2J", "\\u202e", "\\x07", "\\ud800"]),
    "characters the font lacks": ("emoji 😀 ext-B 𠀀 end", ["end"]),
    "a heading longer than a page": ("# " + "标题" * 1000 + "\n\nafter", ["标题标题", "after"]),
    "deep nesting": ("- " * 300 + "x\n\n" + ">" * 300 + " y", []),
    "links and images": ("[a link](javascript:alert(1)) [ok](https://example.org/x) "
                         "![alt text](file:///etc/passwd)",
                         ["(https://example.org/x)", "alt text"]),
    "nothing": ("", []),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_markdown_renders_as_text(case: str, tmp_path: Path) -> None:
    markdown, expected = HOSTILE[case]
    data = markdown_to_pdf(markdown, title=f"hostile: {case}")
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    path = _write(tmp_path, data)
    text = " ".join(_text(path).split())  # lines wrapped anywhere: compare words
    assert f"hostile: {case}" in text
    for fragment in expected:
        assert " ".join(fragment.split()) in text, fragment
    assert all(share > 0 for share in _page_ink(path, tmp_path))


def _ink_in_right_margin(path: Path, tmp_path: Path) -> int:
    """Dark pixels right of the right margin (18 mm, less 2 mm) on the first page."""
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "1", str(path),
                    str(tmp_path / "margin")], check=True, capture_output=True, timeout=60)
    _, width, height, _, pixels = _pgm(next(tmp_path.glob("margin*.pgm")).read_bytes())
    edge = width - round(16 / 25.4 * 40)
    return sum(1 for y in range(height) for x in range(edge, width) if pixels[y * width + x] < 128)


def test_tables_in_lists_and_quotes_stay_inside_the_page(tmp_path: Path) -> None:
    table = "| 站点 site | 状态 state |\n| --- | --- |\n| DR-LOCAL | " + "已恢复 " * 60 + "|\n"
    nested = "".join("  " * i + "- level\n" for i in range(8)) + "\n"
    indent = "  " * 8
    markdown = (table + "\n" + nested + indent + table.replace("\n", "\n" + indent) + "\n"
                + "> > > " + table.replace("\n", "\n> > > "))
    path = _write(tmp_path, markdown_to_pdf(markdown, title="t"))
    assert _text(path).count("DR-LOCAL") == 3
    assert _ink_in_right_margin(path, tmp_path) == 0


def test_code_blocks_keep_their_columns(tmp_path: Path) -> None:
    code = "```\nSERVER      STATUS    RPO\ncase-vm-1   ACTIVE\t10m\n    indented\n```\n"
    path = _write(tmp_path, markdown_to_pdf(code, title="t"))
    done = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
                          capture_output=True, text=True, check=True, timeout=60)
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert re.search(r"SERVER {4,}STATUS {2,}RPO", done.stdout), done.stdout
    assert re.search(r"case-vm-1 {2,}ACTIVE {2,}10m", done.stdout), done.stdout  # tab expanded
    assert "\\t" not in done.stdout and "indented" in lines


def test_bold_is_drawn_bold(tmp_path: Path) -> None:
    """The font has one weight: bold glyphs are stroked as well as filled, so they carry more
    ink than the same text set plain."""
    inks = []
    texts = ("广东省公安厅 passed\n\n" * 30, "**广东省公安厅 passed**\n\n" * 30)
    for n, markdown in enumerate(texts):
        folder = tmp_path / str(n)
        folder.mkdir()
        path = folder / "report.pdf"
        path.write_bytes(markdown_to_pdf(markdown, title="t"))
        inks.append(_page_ink(path, folder)[0])
        assert "广东省公安厅 passed" in _text(path)
    plain, bold = inks
    assert bold > plain * 1.15, (plain, bold)


def test_the_same_input_gives_the_same_bytes() -> None:
    first = evidence_pdf(EVIDENCE, "广东省公安厅 case")
    assert evidence_pdf(EVIDENCE, "广东省公安厅 case") == first
    assert evidence_pdf(EVIDENCE, "广东省公安厅 other") != first
    assert evidence_pdf(EVIDENCE + "\nmore\n", "广东省公安厅 case") != first
    assert b"/CreationDate (D:20000101000000+00'00')" in first  # reportlab's invariant date
    other_process = subprocess.run(
        [sys.executable, "-c", "import sys; from govcloud.reports.pdf import evidence_pdf; "
         "sys.stdout.buffer.write(evidence_pdf(sys.stdin.read(), '广东省公安厅 case'))"],
        input=EVIDENCE.encode(), capture_output=True, check=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
             "PYTHONIOENCODING": "utf-8"})
    assert other_process.stdout == first


@pytest.mark.slow
def test_the_largest_input_renders_in_seconds(tmp_path: Path) -> None:
    """2 MiB in one line, one bold run, one heading and one code block: reportlab re-wraps a
    paragraph's rest at each page it splits, so were any of them one paragraph this would
    take minutes (a page-long line is set in chunks)."""
    quarter = MAX_MARKDOWN_BYTES // 4 - 16
    markdown = ("x" * quarter + "\n\n**" + "b" * quarter + "**\n\n# " + "h" * quarter
                + "\n\n```\n" + "c" * quarter + "\n```\n")
    assert len(markdown.encode()) <= MAX_MARKDOWN_BYTES
    started = time.monotonic()
    data = markdown_to_pdf(markdown, title="t")
    assert time.monotonic() - started < 60
    text = _text(_write(tmp_path, data))
    for letter in "xbhc":
        assert text.count(letter) >= quarter


def test_markdown_over_the_limit_is_refused_before_rendering() -> None:
    markdown_to_pdf("a" * 10, title="t")
    with pytest.raises(TooLarge) as refused:
        markdown_to_pdf("广" * (MAX_MARKDOWN_BYTES // 3 + 1), title="t")  # 3 bytes each
    assert isinstance(refused.value, InvalidInput)
    assert str(MAX_MARKDOWN_BYTES) in refused.value.message
    assert refused.value.hint and "attach long logs" in refused.value.hint


@pytest.mark.parametrize("title", ["", "   ", "x" * 201, "bad\x1b[2Jtitle", "two\nlines"])
def test_a_bad_title_is_refused(title: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        markdown_to_pdf("text", title=title)
    assert refused.value.hint


def test_without_the_font_the_error_names_the_package(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setattr(pdf, "FONT_FILES", (tmp_path / "absent.ttc",))
    pdf._register_fonts.cache_clear()
    try:
        with pytest.raises(PermanentError) as refused:
            markdown_to_pdf("text", title="t")
    finally:
        pdf._register_fonts.cache_clear()
    assert str(tmp_path / "absent.ttc") in refused.value.message
    assert refused.value.hint and "fonts-wqy-microhei" in refused.value.hint
