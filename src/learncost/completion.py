"""Shell completion: the script a shell sources (typer's protocol, which answers the shell when it sets
``_LEARNCOST_COMPLETE``) and the ids an option completes to. Read only when the shell asks."""

from __future__ import annotations

SHELLS = ("bash", "zsh", "fish", "powershell")
PROG = "learncost"
#: the variable the sourced script sets when it asks learncost for completions
COMPLETE_VAR = "_LEARNCOST_COMPLETE"


def script(shell: str) -> str:
    """The completion script of ``shell`` (``learncost completion bash``)."""
    from typer.completion import get_completion_script

    return get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)


def register() -> None:
    """Makes typer's completion classes answer the shell (typer registers them only for the
    ``--install-completion`` option learncost does not add); called only when the shell asks."""
    from typer.completion import completion_init

    completion_init()


def _matching(ids, incomplete: str) -> list[str]:
    return sorted(i for i in ids if i.startswith(incomplete))


def models(incomplete: str) -> list[str]:
    from .zoo import builtin_ids

    return _matching(builtin_ids(), incomplete)


def mcus(incomplete: str) -> list[str]:
    from .catalog import mcus as catalogue

    return _matching(catalogue(), incomplete)


def setups(incomplete: str) -> list[str]:
    from .setups import preset_ids

    return _matching(preset_ids(), incomplete)


def engines(incomplete: str) -> list[str]:
    from .engines import profiles

    return _matching(["paper", *profiles()], incomplete)


def procedures(incomplete: str) -> list[str]:
    from .procedures import PROCEDURES

    return _matching(["all", *PROCEDURES], incomplete)


def datasets(incomplete: str) -> list[str]:
    from .catalog import datasets as catalogue

    return _matching(catalogue(), incomplete)
