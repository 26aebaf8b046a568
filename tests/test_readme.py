"""The README's two commands are the project's contract with a new user and with CI."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    blocks = [i for i, line in enumerate(lines) if line.startswith("```")]
    first_block = lines[blocks[0] + 1 : blocks[1]]
    return [line.split("#")[0].strip() for line in first_block if line.strip()]


def test_readme_opens_with_the_two_commands() -> None:
    run_demo, run_tests = readme_commands()
    assert run_demo.startswith("python3 -m venv .venv && ")
    assert run_demo.endswith("-m sitl.demo")
    assert run_tests.endswith("-m pytest")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci
