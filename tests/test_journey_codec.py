"""The compact form of a run (engine/journeys/codec.py): whatever the run,
what is packed unpacks equal, in the compact form when it fits and as JSON
otherwise; the seq a Lua script reads is the run's."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.journeys import codec
from engine.journeys.model import Run

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
tokens = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
awkward = st.text(min_size=0, max_size=12)  # | , = ~ { and anything else
times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                     timezones=st.just(timezone.utc))
maybe_times = st.none() | times


@st.composite
def runs(draw, text=tokens) -> Run:
    journey = draw(text)
    digest = draw(st.text("0123456789abcdef", min_size=12, max_size=12))
    run_id = draw(st.sampled_from([f"{journey}.{digest}", draw(text), "r1"]))
    seq = draw(st.integers(0, 10_000))
    decision = draw(st.sampled_from([None, f"{run_id}.{seq}", f"{run_id}.0{seq}",
                                     draw(text)]))
    message = draw(st.sampled_from([decision, None, draw(text)]))
    return Run(
        run_id=run_id, journey_id=journey, contact_id=draw(awkward),
        step_id=draw(st.none() | text), state=draw(st.sampled_from(["active", "waiting", "ended"])),
        seq=seq, entered_at=draw(times), step_entered_at=draw(times), due_at=draw(maybe_times),
        end=draw(st.none() | text), ended_at=draw(maybe_times), decision_id=decision,
        message_id=message, channel=draw(st.none() | text), sent_at=draw(maybe_times),
        deferred_since=draw(maybe_times),
        branches=draw(st.dictionaries(text, text, max_size=3)),
        pack_hash=draw(st.sampled_from([None, "sha256:0123456789abcdef", "sha256:XYZ",
                                        "md5:1"])),
        task_id=draw(st.none() | text), attempt=draw(st.none() | st.integers(0, 5)),
        not_before=draw(maybe_times))


@settings(max_examples=400, deadline=None)
@given(runs())
def test_every_run_of_plain_tokens_unpacks_equal(run):
    text = codec.pack(run)
    assert codec.unpack(text, run.run_id, run.contact_id) == run


@settings(max_examples=400, deadline=None)
@given(runs(text=awkward))
def test_every_run_with_awkward_text_unpacks_equal(run):
    text = codec.pack(run)
    assert codec.unpack(text, run.run_id, run.contact_id) == run


@settings(max_examples=200, deadline=None)
@given(runs())
def test_the_seq_a_script_reads_is_the_runs(run):
    text = codec.pack(run)
    if not text.startswith("{"):
        assert int(re.match(r"^\d+", text).group()) == run.seq


def waiting_run() -> Run:
    """A welcome run waiting three days for its second email, as the machine leaves it."""
    entered = T0 + timedelta(microseconds=123_457)
    return Run("welcome.0a1b2c3d4e5f", "welcome", "c-000123", "tips_after_3d", "active", 3,
               entered, entered + timedelta(minutes=1), entered + timedelta(days=3),
               decision_id="welcome.0a1b2c3d4e5f.1", message_id="welcome.0a1b2c3d4e5f.1",
               channel="email", branches={"split": "b"}, pack_hash="sha256:0123456789abcdef")


def test_a_typical_waiting_run_fits_the_64_bytes_of_a_redis_listpack_value():
    text = codec.pack(waiting_run())
    assert not text.startswith("{")
    assert len(text.encode()) <= 64 < len(waiting_run().dump(ids=False))


def test_a_run_that_does_not_fit_is_written_as_json():
    run = Run("r|1", "j", "c", "s|x", "active", 1, T0, T0)
    assert codec.pack(run).startswith("{")
    assert codec.unpack(codec.pack(run), "r|1", "c") == run
