"""One transaction owner: the boundary (a request, a job run, a command) commits; services and
repositories only flush. A static check, so a stray commit fails before it ships."""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"
FLUSH_ONLY = sorted(
    p
    for folder in ("services", "db/repositories")
    for p in (APP / folder).glob("*.py")
    # Seeding a demo book is a boundary of its own: it commits after each step.
    if p.name != "demo.py"
)


def transaction_ends(source: str) -> list[str]:
    """Lines that commit or roll back, whatever the session is called."""
    return [
        f"line {node.lineno}: .{node.func.attr}()"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("commit", "rollback")
    ]


def test_the_check_notices_a_commit_and_a_rollback() -> None:
    source = "async def f(s):\n    await s.flush()\n    await s.commit()\n    await s.rollback()\n"
    assert transaction_ends(source) == ["line 3: .commit()", "line 4: .rollback()"]


@pytest.mark.parametrize("module", FLUSH_ONLY, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_services_and_repositories_never_end_a_transaction(module: Path) -> None:
    assert transaction_ends(module.read_text()) == []
