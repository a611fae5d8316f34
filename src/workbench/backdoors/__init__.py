"""Does further training remove a backdoor or only suppress it? (issue "Hidden behaviour,
part 2"). ``verdict``: the rule that turns a stage's measurements into "persists",
"suppressed" or "removed", written down before any stage was run."""

from workbench.backdoors.verdict import StageEvidence, Verdict, VerdictRule, verdict

__all__ = ["StageEvidence", "Verdict", "VerdictRule", "verdict"]
