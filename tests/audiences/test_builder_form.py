"""The builder's own fields through audiences.forms.BuilderForm: the definition's topics, scores and window as
the API takes them, the window the hints read, the preview size and the form as typed."""

import pytest
from django.http import QueryDict

from audiences.forms import BuilderForm
from delivr_admin.errors import ApplicationError


def form(text: str) -> BuilderForm:
    return BuilderForm(QueryDict(text))


def test_builder_form_definition_when_lookback_gives_topics_scores_and_days():
    got = form("topic_id_prefixes=100&topic_id_prefixes=&topic_id_prefixes=101&scores=high&lookback_days= 7 ")
    assert got.definition() == {"topic_id_prefixes": ["100", "101"], "scores": ["high"], "lookback_days": 7}
    assert form("lookback_days=").definition() == {"topic_id_prefixes": [], "scores": []}


def test_builder_form_definition_when_range_keeps_dates_as_typed_and_ignores_lookback():
    got = form("window=range&date_from=2024-05-01&date_to=&lookback_days=x").definition()
    assert got == {"topic_id_prefixes": [], "scores": [], "date_from": "2024-05-01", "date_to": None}
    assert "date_from" not in form("window=range").definition()


def test_builder_form_definition_when_lookback_not_a_number_is_refused_next_to_the_field():
    with pytest.raises(ApplicationError) as exc:
        form("lookback_days=week").definition()
    assert exc.value.message == "Lookback days must be a whole number." and exc.value.extra == {
        "field": "lookback_days"
    }


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("lookback_days=3", {"lookback_days": 3}),
        ("lookback_days=0", {"lookback_days": None}),
        ("lookback_days=x", {}),
        ("window=range&date_to=2024-05-02", {"date_from": None, "date_to": "2024-05-02"}),
    ],
)
def test_builder_form_time_window_for_hints(text, window):
    assert form(text).time_window() == window


def test_builder_form_preview_size_and_raw_state():
    assert form("preview_limit=25").preview_size((10, 25, 100), fallback=10) == 25
    for bad in ("7", "x", ""):
        assert form(f"preview_limit={bad}").preview_size((10, 25, 100), fallback=10) == 10
    state = form("window=range&date_from=nope&lookback_days=9&scores=low").raw_state()
    assert state == {
        "topic_id_prefixes": [],
        "scores": ["low"],
        "lookback_days": None,
        "date_from": "nope",
        "date_to": None,
    }
