"""cubeworld: test and improve the visual cognition of vision-language models.

The package mirrors the pipeline of Schulze Buschoff et al. (2025), data flowing one way:

    stimuli -> models -> experiments -> analysis      (plus human/: the web app that
                                                        collects human judgments)

Each domain's question, prompt and sizes come from its stimulus family
(`cubeworld.stimuli.families`); `formats` holds the on-disk formats that cross stage
boundaries (stimulus sets, prediction tables, human responses); `datasets` the external
data sets. Extension points are registries (`cubeworld.registry`, docs/EXTENDING.md).
"""

__version__ = "0.1.0"
