"""Lessons: a lecture as data — an ordered list of traced flows with stops, captions and quiz questions
(docs/lessons.md). Core: no dash. The player in webapp/app calls only what is listed in `__all__`."""

from webapp.lessons.loader import (
    LessonInfo, builtin_lesson, check_step, lesson_json_schema, list_lessons, load_lesson, load_lesson_text,
    resolve_step,
)
from webapp.lessons.model import (
    LOADED, FlowSpec, Lesson, LessonResult, LessonStep, Quiz, ResolvedStep, StopSelector, Text,
)

DEFAULT_LESSON = "seed-article"

__all__ = [
    "DEFAULT_LESSON", "LOADED", "FlowSpec", "Lesson", "LessonInfo", "LessonResult", "LessonStep", "Quiz",
    "ResolvedStep", "StopSelector", "Text", "builtin_lesson", "check_step", "lesson_json_schema", "list_lessons",
    "load_lesson", "load_lesson_text", "resolve_step",
]
