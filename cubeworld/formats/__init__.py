"""On-disk formats that cross stage boundaries, each defined once.

- `sets`: a stimulus set folder (`images/`, `metadata.jsonl`, `dataset.json`).
- `predictions`: a model's answers, one row per stimulus (CSV or Parquet).
- `responses`: human judgments as a long table (stimulus id, participant, response).
- `atomic`: writes that never leave a half-written file behind.
"""
