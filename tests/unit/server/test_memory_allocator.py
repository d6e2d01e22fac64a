"""When ``serve`` executes itself again on glibc's malloc (mailward.server.memory)."""

from __future__ import annotations

import sys

import pytest

from mailward.server.memory import allocator, allocator_command


def test_serve_runs_its_own_command_line_again_on_malloc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    assert allocator_command(own_command_line=True) == sys.orig_argv
    assert allocator() == "pymalloc (Python's default)"


def test_an_allocator_chosen_already_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    for chosen in ("malloc", "pymalloc", "malloc_debug"):
        monkeypatch.setenv("PYTHONMALLOC", chosen)
        assert allocator_command(own_command_line=True) is None
        assert allocator() == f"PYTHONMALLOC={chosen}"


def test_arguments_from_another_program_never_start_this_process_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # main(["serve", ...]) called from a test runner: executing sys.orig_argv would run the runner
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    assert allocator_command(own_command_line=False) is None
