"""Test and demo infrastructure of the study stage: never used by a study run itself.

`slurm_cluster.LocalSlurmCluster` starts a real single-node Slurm cluster (munge, MariaDB,
slurmdbd, slurmctld, slurmd) in a temporary folder, so the Slurm executor is tested against
the real `sbatch` / `sacct` / `scancel`, and a user can try `--executor slurm` without a
cluster (`cubeworld study slurm-up DIR` / `slurm-down DIR`). Production runs use the
site's own Slurm; nothing here is imported on that path.
"""
