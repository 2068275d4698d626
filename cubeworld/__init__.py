"""cubeworld: test and improve the visual cognition of vision-language models.

The package mirrors the pipeline of Schulze Buschoff et al. (2025), data flowing one way:

    stimuli -> models -> experiments -> analysis      (plus human/: the web app that
                                                        collects human judgments)

`tasks` holds the study's two tasks (prompts, block counts) and `formats` the on-disk
formats that cross stage boundaries (stimulus sets, prediction tables, human responses).
"""

__version__ = "0.1.0"
