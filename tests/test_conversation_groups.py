"""The conversation list's date groups (Today, Yesterday, Earlier) by the calendar of the browser."""

from datetime import UTC, datetime, timedelta, timezone

from app.ui.conversations_view import date_group

SHANGHAI = timezone(timedelta(hours=8))


def test_groups_follow_calendar_days_not_24_hour_spans() -> None:
    now = datetime(2026, 12, 7, 0, 30, tzinfo=SHANGHAI)
    assert date_group(datetime(2026, 12, 7, 0, 5, tzinfo=SHANGHAI).timestamp(), now) == "today"
    assert date_group(datetime(2026, 12, 6, 23, 55, tzinfo=SHANGHAI).timestamp(), now) == "yesterday"
    assert date_group(datetime(2026, 12, 6, 0, 1, tzinfo=SHANGHAI).timestamp(), now) == "yesterday"
    assert date_group(datetime(2026, 12, 5, 23, 59, tzinfo=SHANGHAI).timestamp(), now) == "earlier"


def test_the_same_moment_is_today_in_one_zone_and_yesterday_in_another() -> None:
    moment = datetime(2026, 12, 6, 20, 0, tzinfo=UTC).timestamp()  # 04:00 on the 7th in Shanghai
    assert date_group(moment, datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI)) == "today"
    assert date_group(moment, datetime(2026, 12, 7, 9, 0, tzinfo=UTC)) == "yesterday"
