from __future__ import annotations

import pytest

from bot.answers.questions import reads_as_question


@pytest.mark.parametrize(
    "text",
    [
        "How do I join the data CoP?",
        "how do i book a room for the lunch and learn",
        "What time is the core meeting on Thursday",
        "Who is the sponsor for this community",
        "Where are the slides from last week's session?",
        "When is the next lunch and learn",
        "Why was the meeting moved",
        "Can someone share the terms of reference",
        "Could you send me the link to the recording",
        "Does anyone know who looks after the events calendar",
        "Is there a template for project proposals",
        "Are the sessions recorded",
        "Should I be a core or wider member",
        "Anyone know how to get edit rights on the SharePoint site",
        "Any idea where the survey results are",
        "Help with setting up a Teams channel for our project",
        "Hi all, does anyone have the agenda for tomorrow",
        "Quick question: is the workshop still on",
        "The room booking system is down again, any advice",
        "I was wondering if the recording is available",
        "<at>Sam</at> have you got the notes from the last meeting?",
        "we're planning the next event - thoughts on dates?",
    ],
)
def test_questions(text: str) -> None:
    assert reads_as_question(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "?",
        "ok?",
        "why?",
        "Thanks!",
        "Thank you so much",
        "thanks everyone, great session",
        "Hi all",
        "Good morning everyone",
        "https://ucl.ac.uk/events/123",
        "https://teams.microsoft.com/l/meetup-join/abc?context=1",
        "The slides are now on the SharePoint site.",
        "Great session today, really useful.",
        "How lovely to see everyone yesterday!",
        "What a brilliant turnout!",
        "Have a great weekend everyone",
        "Reminder: core meeting on Thursday at 2pm",
        "I've uploaded the notes to the Files tab",
        "<at>Sam</at> thanks",
        "Welcome to the community, Priya",
    ],
)
def test_not_questions(text: str) -> None:
    assert not reads_as_question(text)
