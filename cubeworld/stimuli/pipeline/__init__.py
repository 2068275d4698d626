"""The set pipeline: arguments -> quotas -> candidates (in workers) -> rows -> a finished,
sealed set folder, and what is built on it (presets, subsets, rebuilding from a card).

| module | job |
| --- | --- |
| `arguments` | a set's arguments (domain, sizes, counts, seed, resolution), validated |
| `quotas` | a size's quotas: per label, per quota-stratum value x label |
| `candidates`, `pool` | one candidate (the workers' job); in-process and pooled runners; the `Executor` protocol |
| `shards`, `cluster` | ranges of candidates evaluated apart (a shard, resumable); the Slurm executor that runs them as a job array and feeds their results to the same loop |
| `rows` | a metadata row from a candidate |
| `progress` | the generation log and its replay (what a killed generation continues from) |
| `identity`, `card`, `folder` | a set's identity; its card; claiming, finishing and sealing the folder |
| `generate`, `regenerate` | `generate_set`; rebuilding a set from its card |
| `presets`, `subset` | named sets (`presets.yaml` and the families'); balanced subsets |

The pipeline knows no family: it asks `cubeworld.stimuli.catalog` for one by name and
calls the protocol (`cubeworld.stimuli.family.StimulusFamily`).
"""
