"""The `cubeworld` command line: one Typer app, each pipeline stage adds its commands.

Stage modules keep heavy imports (torch, mujoco, transformers) inside their command
functions, so `cubeworld --help` stays fast.
"""

from __future__ import annotations

import typer

from cubeworld.analysis import cli as analysis_cli
from cubeworld.datasets import cli as datasets_cli
from cubeworld.experiments import cli as experiments_cli
from cubeworld.fitting import cli as fitting_cli
from cubeworld.human import cli as human_cli
from cubeworld.models import cli as models_cli
from cubeworld.observers import cli as observers_cli
from cubeworld.probes import cli as probes_cli
from cubeworld.stimuli import cli as stimuli_cli

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Cubeworld: stimuli, VLM scoring and fine-tuning, human studies and analysis.",
)

for stage in (
    stimuli_cli,
    models_cli,
    observers_cli,
    probes_cli,
    experiments_cli,
    fitting_cli,
    analysis_cli,
    datasets_cli,
    human_cli,
):
    stage.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
