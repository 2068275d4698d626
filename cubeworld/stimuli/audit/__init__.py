"""The audits of a set, above the family protocol and below the pipeline (whose cards
carry the shortcut audit):

- `shortcut`: what simple visual cues score on a set without physics (every card, and
  `cubeworld audit SET`);
- `physics`: do a set's labels hold under other reasonable physics? (`audit --physics`,
  resumable);
- `sheet`: the contact sheet, a grid to see a set at once (`cubeworld sheet`).

They look families up by name through `cubeworld.stimuli.catalog`, never import one.
"""
