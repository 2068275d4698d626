"""Small models over a family's visual cues: what a reviewer fits before believing a set
measures reasoning. One cue at a time can look harmless while two together decide the
labels, so the audit also fits, on all of a family's cues at once,

- a logistic regression (standardised features, scikit-learn's default L2 penalty), and
- a decision tree of depth 2 (at most three questions about the cues),

cross-validated on the same folds as the one-cue rules (`scoring`), pooled and within each
size, with Wilson intervals. A "category" cue (a tier number) enters as one indicator per
value, a "threshold" cue as its number. scikit-learn is imported inside the functions: a
generation pays for it once, when it writes the card.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cubeworld.stimuli.audit.scoring import FOLDS, Score, stratified_folds

LOGISTIC = "logistic_regression"
TREE = "tree_depth2"
MODELS = {
    LOGISTIC: "logistic regression on every cue",
    TREE: "decision tree of depth 2 on every cue",
}
FITTING = {LOGISTIC: "standardised features, L2 penalty, C=1", TREE: "at most three questions"}


def _estimator(name: str) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    if name == LOGISTIC:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return DecisionTreeClassifier(max_depth=2, random_state=0)


def design_matrix(columns: Sequence[tuple[str, str, Sequence[float]]]) -> tuple[Any, list[str]]:
    """(X, feature names) from (cue name, rule type, values): threshold cues as numbers,
    category cues as one indicator per value seen."""
    import numpy as np

    blocks, names = [], []
    for name, rule, values in columns:
        v = np.asarray(values, dtype=float)
        if rule == "category":
            for level in sorted(set(v.tolist())):
                blocks.append((v == level).astype(float))
                names.append(f"{name}={level:g}")
        else:
            blocks.append(v)
            names.append(name)
    n = len(columns[0][2]) if columns else 0
    return (np.column_stack(blocks) if blocks else np.zeros((n, 0))), names


def _fit_predict(name: str, x_train: Any, y_train: Any, x_test: Any) -> Any:
    """Predictions of the model fitted on (x_train, y_train); a one-answer training set
    predicts that answer (neither model can be fitted on one class)."""
    import numpy as np

    if len(set(y_train.tolist())) < 2:
        return np.full(len(x_test), bool(y_train[0]) if len(y_train) else False)
    return _estimator(name).fit(x_train, y_train).predict(x_test)


def score_model(
    name: str, ids: Sequence[str], x: Any, labels: Sequence[bool], strata: Sequence[Any] | None = None
) -> Score:
    """Model `name`'s accuracy on the items (cross-validated on the audit's folds, and fitted
    on all of them)."""
    import numpy as np

    y = np.asarray(labels, dtype=bool)
    n = len(y)
    rule = f"{FITTING[name]}; {x.shape[1]} feature{'' if x.shape[1] == 1 else 's'}"
    if n == 0 or x.shape[1] == 0:
        return Score(n=n, cv_correct=0, fit_correct=0, rule=rule)
    fit_correct = int((_fit_predict(name, x, y, x) == y).sum())
    folds = min(FOLDS, n)
    cv_correct = 0
    if folds >= 2:
        fold_of = np.asarray(stratified_folds(ids, list(labels) if strata is None else strata, folds))
        for f in range(folds):
            test = fold_of == f
            if test.any():
                cv_correct += int((_fit_predict(name, x[~test], y[~test], x[test]) == y[test]).sum())
    return Score(n=n, cv_correct=cv_correct, fit_correct=fit_correct, rule=rule)


def score_models(
    ids: Sequence[str],
    columns: Sequence[tuple[str, str, Sequence[float]]],
    labels: Sequence[bool],
    strata: Sequence[Any] | None = None,
) -> tuple[dict[str, Score], list[str]]:
    """Every model's score on the items, and the features it used."""
    x, names = design_matrix(columns)
    return {name: score_model(name, ids, x, labels, strata) for name in MODELS}, names
