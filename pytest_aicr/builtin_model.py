"""The ``builtin:rules`` model: an offline reviewer that answers like an LLM.

It reads the sample itself rather than the prompt and answers each stage with the
same JSON a model would send, so its answers go through the same parser.
"""

from __future__ import annotations

import json

from pytest_aicr.client import StageRequest
from pytest_aicr.completion import Answer
from pytest_aicr.rules import review_change


def answer_builtin(request: StageRequest) -> Answer:
    """Answer one stage: ``check`` runs the rules, later stages keep every comment."""
    if request.stage == "check":
        findings = review_change(
            request.sample.code, request.sample.language, request.sample.file
        )
        comments = [
            {
                "comment": finding.comment,
                "file": request.sample.file,
                "line": finding.line,
                "severity": finding.severity,
                "category": finding.category,
            }
            for finding in findings
        ]
    else:
        comments = [comment.as_record() for comment in request.prior]
        if request.stage == "review":
            for comment in comments:
                comment["valid"] = True
    text = json.dumps({"comments": comments}, ensure_ascii=False)
    return Answer(text=text, finish_reason="stop", usage={})
