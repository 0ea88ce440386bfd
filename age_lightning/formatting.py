"""How every report and table of the project writes numbers and tables (torch-free: the till's shares.py uses it
too), and what a number written as text looks like (a log's cell, a query parameter)."""

NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"


def markdown_table(header: list[str], rows) -> list[str]:
    """A markdown table's lines: the header, its rule, and one line per row (cells as given, | escaped)."""

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(row) for row in rows)]


def num(value, signed: bool = False) -> str:
    """Years and other plain figures: two decimals, n/a for None."""
    if value is None:
        return "n/a"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def pct(value, digits: int = 1) -> str:
    """A share as a percentage, n/a for None."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"
