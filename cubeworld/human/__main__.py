"""`python -m cubeworld.human ...`: the same commands as `cubeworld human ...`.

Useful to run the study server without loading the other stages' command modules.
"""

from cubeworld.human.cli import human_app

if __name__ == "__main__":
    human_app(prog_name="python -m cubeworld.human")
