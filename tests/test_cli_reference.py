"""The README's table of commands is the one the parser gives (``workbench cli-table``)."""

from workbench.cli import build_parser
from workbench.cli.reference import cli_table, table_in, with_table
from workbench.paths import CLONE_ROOT


def test_readme_lists_every_command_as_the_parser_does():
    readme = (CLONE_ROOT / "README.md").read_text()
    assert table_in(readme) == cli_table(build_parser()), (
        "The README's table of commands is stale: run `workbench cli-table --update README.md`"
    )


def test_the_table_has_one_row_per_subcommand():
    parser = build_parser()
    table = cli_table(parser)
    (sub,) = [a for a in parser._actions if hasattr(a, "_choices_actions")]
    assert len(table.splitlines()) == 2 + len(sub.choices)
    for name in sub.choices:
        assert f"| `workbench {name}` |" in table


def test_update_replaces_only_the_block():
    text = "before\n<!-- cli-table -->\nold\n<!-- /cli-table -->\nafter\n"
    new = with_table(text, "| a | b |\n")
    assert new == "before\n<!-- cli-table -->\n| a | b |\n<!-- /cli-table -->\nafter\n"
    assert table_in(new) == "| a | b |\n"
