"""Fitting observers to people: the physics observer's parameters by maximum likelihood.

Why a stage of its own: a fit uses an observer (the noisy-Newton simulations) and people's
answers (formats.responses) and writes files the report and a study read (the fitted
observer as an observer config, held-out log-likelihoods, per-size accuracies; file names
in `formats.fits`). It sits one floor below the experiments stage (a study's `fits:` run
it) and above observers and the analysis: it may use observers, formats and the
analysis' metrics, and nothing below imports it (the report reads its folders).

- `items`: the fit's items (a set's rows with a recorded scene) and people's answers to
  them as (participant x item) arrays;
- `shares`: the share of noisy copies answering Yes per (parameter point, item), simulated
  once with common random numbers (the same normals at every noise scale);
- `likelihood`: P(Yes | item, parameters) with a lapse; the grid maximum-likelihood fit,
  the chance and per-size accuracy baselines;
- `crossval`: crossed item x participant folds, bootstrap intervals;
- `people`: simulated participants (the pilot fixture, parameter recovery) and people as
  observers (responses -> prediction rows);
- `fit`: the whole fit, written to a folder; `cli`: `cubeworld fit ...`.
"""
