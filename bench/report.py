"""Results of one benchmark run: sections of tables, goals, and their Markdown and rich forms."""

from __future__ import annotations

from dataclasses import dataclass, field

MET, MISSED, UNMEASURED = "met", "missed", "not measured"


@dataclass
class Goal:
    """A goal from issue 6 and how this run did against it."""

    text: str
    verdict: str = UNMEASURED
    measured: str = ""


@dataclass
class Section:
    """One measurement: a table, the goals it checks, and notes on how it was measured."""

    key: str
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""


def rich_table(section: Section):
    """The section's table for the terminal."""
    from rich.table import Table

    table = Table(title=section.title, title_justify="left", show_lines=False)
    for i, column in enumerate(section.columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in section.rows:
        table.add_row(*row)
    return table


def goals_table(sections: list[Section]):
    """One table of every goal and its verdict, for the end of the run."""
    from rich.table import Table

    table = Table(title="Goals (issue 6)", title_justify="left")
    table.add_column("goal")
    table.add_column("measured", justify="right")
    table.add_column("verdict")
    colours = {MET: "green", MISSED: "red", UNMEASURED: "yellow"}
    for section in sections:
        for goal in section.goals:
            colour = colours.get(goal.verdict, "white")
            table.add_row(goal.text, goal.measured, f"[{colour}]{goal.verdict}[/{colour}]")
    return table


def _md_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(c) for c in columns) + " |",
        "| " + " | ".join("---" if i == 0 else "---:" for i in range(len(columns))) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def markdown(
    sections: list[Section], machine: dict[str, str], settings: list[str], findings: list[str]
) -> str:
    """The whole run as RESULTS.md."""
    lines = [
        "# archc benchmark results",
        "",
        "Written by `python -m bench`; do not edit by hand (re-run it).",
        "",
    ]
    lines += ["## Machine", ""]
    lines += _md_table(["fact", "value"], [[k, v] for k, v in machine.items()])
    lines += ["", "## Goals", ""]
    lines += _md_table(
        ["goal", "measured", "verdict"],
        [[g.text, g.measured, g.verdict] for s in sections for g in s.goals],
    )
    if settings:
        lines += ["", "## Settings", ""] + [f"- {s}" for s in settings]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        if section.error:
            lines += [f"**Not measured:** {section.error}", ""]
        if section.rows:
            lines += _md_table(section.columns, section.rows) + [""]
        lines += [f"- {note}" for note in section.notes]
    if findings:
        # The findings file starts with its own level-1 title; nest it under this report.
        lines += [""] + ["#" + line if line.startswith("#") else line for line in findings]
    return "\n".join(lines).rstrip() + "\n"
