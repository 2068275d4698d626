"""Human studies: a Prolific-ready jsPsych web experiment over a stimulus set.

    create_human_study(set_dir, out, design, items=K)   -> study folder (study.yaml, items, images)
    create_app(study_dir)                          -> the FastAPI app (serve with uvicorn)
    serve(study_dir, host, port)                   -> run it
    export_study(study_dir, out)                   -> responses.csv, bonus.csv, participants.csv,
                                                      exclusions.json (rules from study.yaml)
    migrate_study(study_dir)                       -> a database of an earlier cubeworld rewritten
                                                      (after a backup) in this version's layout
    plan.plan(pilot, PlanSettings(...))            -> participants for a target interval width

Names are imported on first use so that `cubeworld --help` does not load FastAPI or pandas.
"""

from __future__ import annotations

from cubeworld.lazy import lazy_exports

_EXPORTS = {
    "create_human_study": "cubeworld.human.study",
    "load_human_study": "cubeworld.human.study",
    "HumanStudy": "cubeworld.human.study",
    "Item": "cubeworld.human.study",
    "HumanStudyConfig": "cubeworld.human.config",
    "HumanStudyError": "cubeworld.human.errors",
    "create_app": "cubeworld.human.server",
    "serve": "cubeworld.human.server",
    "FrontendMissing": "cubeworld.human.server",
    "export_study": "cubeworld.human.export",
    "migrate_study": "cubeworld.human.migrate",
    "Store": "cubeworld.human.store",
    "ExclusionRules": "cubeworld.human.exclusions",
    "apply_exclusions": "cubeworld.human.exclusions",
    "PlanSettings": "cubeworld.human.plan",
    "Pilot": "cubeworld.human.pilot",
    "lerer100_pilot": "cubeworld.human.pilot",
    "responses_pilot": "cubeworld.human.pilot",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
