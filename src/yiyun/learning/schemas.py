"""What the learning API takes and returns."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from yiyun.learning.models import ReviewState, SubjectKind


class Question(BaseModel):
    """A single-choice (one answer) or multiple-choice (several) question."""

    model_config = ConfigDict(str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=500)
    choices: list[str] = Field(min_length=2, max_length=8)
    answer: list[int] = Field(min_length=1, max_length=8)
    multiple: bool = False

    @model_validator(mode="after")
    def _answer_is_a_choice(self) -> Question:
        if any(not c.strip() or len(c) > 200 for c in self.choices):
            raise ValueError("each choice must have 1 to 200 characters")
        if any(not 0 <= a < len(self.choices) for a in self.answer):
            raise ValueError("each answer must be one of the choices")
        if len(set(self.answer)) != len(self.answer):
            raise ValueError("each answer must be one of the choices")
        if not self.multiple and len(self.answer) != 1:
            raise ValueError("a single-choice question has exactly one answer")
        return self


class QuizCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    pass_percent: int = Field(default=80, ge=1, le=100)
    questions: list[Question] = Field(min_length=1, max_length=30)


class QuestionRead(BaseModel):
    text: str
    choices: list[str]
    multiple: bool


class QuizRead(BaseModel):
    id: int
    subject_kind: SubjectKind
    subject_id: int
    title: str
    pass_percent: int
    questions: list[QuestionRead]
    passed: bool = False
    best_percent: int | None = None


class AttemptCreate(BaseModel):
    """The chosen indexes for each question, in order."""

    answers: list[list[int]] = Field(min_length=1, max_length=30)


class AttemptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    quiz_id: int
    score_percent: int
    passed: bool
    at: datetime


class CourseItemIn(BaseModel):
    kind: SubjectKind
    ref_id: int = Field(gt=0, le=2**31 - 1)


class CourseCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    credit_hours: float = Field(default=1.0, gt=0, le=50)
    min_minutes: int = Field(default=30, ge=1, le=600)
    items: list[CourseItemIn] = Field(min_length=1, max_length=50)


class ItemProgress(BaseModel):
    kind: SubjectKind
    ref_id: int
    title: str
    done: bool
    watched_or_attended: bool
    quiz_id: int | None
    quiz_passed: bool | None
    detail: str


class CourseRead(BaseModel):
    id: int
    institution_id: int
    title: str
    description: str
    credit_hours: float
    min_minutes: int
    enrolled: bool = False
    completed_at: datetime | None = None
    items: list[ItemProgress] = Field(default_factory=list)


class CreditRead(BaseModel):
    course_id: int
    course_title: str
    user_id: int
    display_name: str
    credit_hours: float
    credit_year: int
    completed_at: datetime
    certificate_no: str


class ReviewCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    note: str = Field(default="", max_length=2000)


class ReviewDecision(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(default="", max_length=2000)


class ReviewRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    recording_id: int
    institution_id: int
    state: ReviewState
    note: str
    reason: str
    decided_at: datetime | None
    video_id: int | None
