"""Questions a running run asks the people responsible for it, in its thread, with one button per
choice (maintenance mode asks whether to keep waiting for the queue to drain).

The question and its answer are a row (``storage.run_questions``): the run polls the row, the click
is a compare-and-set on ``answer IS NULL`` checked against who may answer (the requester, or an
approver of the run, as for Cancel), so it survives a replica answering the click and fires once."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.executor import views
from bot.executor.plan import Answer
from bot.executor.service import audit, reply_in_thread
from bot.refusal import Refusal
from bot.slack import outbox
from bot.work import BOT, Ctx
from storage.models import OutboundMessage
from storage.run_questions import RunQuestion
from storage.runs import RUNNING, Approval, Run


def post(ctx: Ctx, run_id: int, text: str, choices: Sequence[tuple[str, str]]) -> int:
    """Record the question and post it in the run's thread; returns its id."""
    run = ctx.session.get(Run, run_id)
    assert run is not None
    question = RunQuestion(run_id=run_id, asked_at=ctx.now, text=text, choices=json.dumps([list(c) for c in choices]))
    ctx.session.add(question)
    ctx.session.flush()
    assert question.id is not None
    audit(ctx, run, "asked", BOT, question=text, choices=[key for key, _ in choices])
    shown, blocks = views.question(question.id, run, text, choices)
    message = reply_in_thread(ctx, run, shown, blocks)
    if message is not None:
        ctx.session.flush()
        question.message_id = message.id
    return question.id


def answered(session: Session, question_id: int) -> Answer | None:
    question = session.get(RunQuestion, question_id)
    if question is None or question.answer is None or question.answered_by is None:
        return None
    return Answer(question.answer, question.answered_by)


def answer(ctx: Ctx, question_id: int, choice: str, user_id: str) -> str:
    """A click on one of the question's buttons: who may answer is checked at every click."""
    question = ctx.session.get(RunQuestion, question_id)
    run = ctx.session.get(Run, question.run_id) if question else None
    if question is None or run is None:
        raise Refusal("That question no longer exists; nothing changed.")
    labels = dict(tuple(pair) for pair in json.loads(question.choices))
    if choice not in labels:
        raise Refusal("That button is not one of this question's answers; nothing changed.")
    if question.answer is not None:
        raise Refusal(f"<@{question.answered_by}> already answered: {labels.get(question.answer)}.")
    if run.status != RUNNING:
        raise Refusal(f"Run #{run.id} is {run.status}; the question no longer matters.")
    approvers = set(ctx.session.exec(
        select(Approval.user_id).where(Approval.run_id == run.id, Approval.decision == "approve")).all())
    if user_id != run.requested_by and user_id not in approvers:
        raise Refusal(f"Only the requester or an approver of run #{run.id} can answer.")
    result = ctx.session.exec(  # type: ignore[call-overload]
        update(RunQuestion).where(col(RunQuestion.id) == question_id).where(col(RunQuestion.answer).is_(None))
        .values(answer=choice, answered_by=user_id, answered_at=ctx.now))
    if result.rowcount != 1:
        raise Refusal("Someone answered at the same moment; nothing more changed.")
    audit(ctx, run, "answered", user_id, question=question.text, answer=choice)
    anchor = ctx.session.get(OutboundMessage, question.message_id) if question.message_id else None
    if anchor is not None:
        shown, blocks = ctx.shown(*views.question_answered(question.text, labels[choice], user_id))
        outbox.edit(ctx.session, ctx.now, anchor, shown, blocks, purpose=f"run:{run.id}:question")
    return f"Answered run #{run.id}: {labels[choice]}."
