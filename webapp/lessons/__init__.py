"""Lessons: a lecture as data — an ordered list of traced flows with stops, captions and quiz questions
(docs/lessons.md) — and the why of a trace: the three no-NAT principles, hop badges, the header strip, quiz
points. Core: no dash.
The lesson player in webapp/app calls only what is listed in `__all__`."""

from webapp.lessons.catalog import LANGUAGES, MESSAGES, text
from webapp.lessons.loader import (
    LessonInfo, builtin_lesson, check_step, lesson_json_schema, list_lessons, load_lesson, load_lesson_text,
    resolve_step,
)
from webapp.lessons.model import (
    LOADED, FlowSpec, Lesson, LessonResult, LessonStep, Quiz, ResolvedStep, StopSelector, Text,
)
from webapp.lessons.principles import HopBadges, Principle, PrincipleResult, Verdict, hop_badges, principles
from webapp.lessons.quiz import Answer, AnswerKind, Decision, QuizPoint, quiz_points
from webapp.lessons.strip import HeaderStrip, header_strip

DEFAULT_LESSON = "seed-article"

__all__ = [
    "DEFAULT_LESSON", "LANGUAGES", "LOADED", "MESSAGES", "Answer", "AnswerKind", "Decision", "FlowSpec",
    "HeaderStrip", "HopBadges", "Lesson", "LessonInfo", "LessonResult", "LessonStep", "Principle", "PrincipleResult",
    "Quiz", "QuizPoint", "ResolvedStep", "StopSelector", "Text", "Verdict", "builtin_lesson", "check_step",
    "header_strip", "hop_badges", "lesson_json_schema", "list_lessons", "load_lesson", "load_lesson_text",
    "principles", "quiz_points", "resolve_step", "text",
]
