"""Load price sheets from YAML (``tenants/prices/*.yaml``): every scalar is read as the text
written, so prices are exact decimals, and every problem names its file, line and field
(``govcloud.domain.prices``). A directory with any problem yields no sheet at all."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from govcloud.domain.prices import (
    PriceProblem,
    PriceSheet,
    PriceSheetError,
    check_sheets,
    parse_sheet,
)
from govcloud.errors import InvalidInput
from govcloud.yamlfile import load_text_tree, read_text


def parse_sheet_text(text: str, *, source: str, flavors: Collection[str] | None = None,
                     sites: Collection[str] | None = None) -> PriceSheet:
    """One sheet from its YAML text, or a :class:`PriceSheetError` naming each line."""
    try:
        doc, lines = load_text_tree(text, what=f"price sheet {source}")
    except InvalidInput as exc:
        raise PriceSheetError([PriceProblem(source, "", exc.message, exc.hint or "")]) from None
    return parse_sheet(doc, source=source, lines=lines, flavors=flavors, sites=sites)


def load_price_sheets(directory: str | os.PathLike[str], *,
                      flavors: Collection[str] | None = None,
                      sites: Collection[str] | None = None) -> tuple[PriceSheet, ...]:
    """Every sheet in ``directory`` (``*.yaml``), checked alone and against each other,
    ordered by start date; or one :class:`PriceSheetError` listing every problem."""
    folder = Path(directory)
    if not folder.is_dir():
        raise InvalidInput(f"the price sheets folder {folder} is not a directory",
                           hint="point at tenants/prices (one YAML file per sheet)")
    problems: list[PriceProblem] = []
    sheets: list[PriceSheet] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            text = read_text(path, what="price sheet")
            sheets.append(parse_sheet_text(text, source=str(path), flavors=flavors,
                                           sites=sites))
        except PriceSheetError as exc:
            problems += exc.problems
        except InvalidInput as exc:
            problems.append(PriceProblem(str(path), "", exc.message, exc.hint or ""))
    if problems:
        raise PriceSheetError(problems)
    return check_sheets(sheets)
