"""next_refresh and retry_delay: pure scheduling rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from ecrd.config.model import RefreshPolicy
from ecrd.daemon.groups import next_refresh, retry_delay

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
POLICY = RefreshPolicy()

durations = st.integers(min_value=0, max_value=48 * 3600).map(lambda s: timedelta(seconds=s))


class TestNextRefresh:
    def test_half_way_through_a_twelve_hour_token(self):
        """With the defaults and no jitter drawn, a 12 h token is refreshed after 6 h."""
        at = next_refresh(
            expires_at=NOW + timedelta(hours=12), policy=POLICY, refreshed_at=NOW, rand=lambda: 0.0
        )

        assert NOW + timedelta(hours=6) == at

    def test_jitter_brings_it_earlier_by_at_most_jitter(self):
        """The largest draw moves the refresh earlier by the whole jitter."""
        at = next_refresh(
            expires_at=NOW + timedelta(hours=12), policy=POLICY, refreshed_at=NOW, rand=lambda: 1.0
        )

        assert NOW + timedelta(hours=6) - POLICY.jitter == at

    def test_expiry_in_the_past_waits_min_interval(self):
        """An expiresAt already past (or a skewed clock) gives min_interval, not a tight loop."""
        at = next_refresh(
            expires_at=NOW - timedelta(hours=1), policy=POLICY, refreshed_at=NOW, rand=lambda: 0.5
        )

        assert NOW + POLICY.min_interval == at

    def test_before_expiry_longer_than_the_token_gives_min_interval(self):
        """A token shorter-lived than before_expiry is refreshed every min_interval."""
        at = next_refresh(
            expires_at=NOW + timedelta(hours=1), policy=POLICY, refreshed_at=NOW, rand=lambda: 0.0
        )

        assert NOW + POLICY.min_interval == at

    @given(
        lifetime=durations,
        before=durations,
        jitter=durations,
        min_interval=st.integers(1, 3600).map(lambda s: timedelta(seconds=s)),
        draw=st.floats(0, 1),
    )
    def test_never_sooner_than_min_interval_nor_after_expiry(
        self, lifetime, before, jitter, min_interval, draw
    ):
        """Always in [refreshed_at + min_interval, expires_at), unless min_interval is later."""
        policy = RefreshPolicy(before_expiry=before, jitter=jitter, min_interval=min_interval)
        expires_at = NOW + lifetime

        at = next_refresh(expires_at=expires_at, policy=policy, refreshed_at=NOW, rand=lambda: draw)

        assert at >= NOW + min_interval
        if before > timedelta(0) and lifetime > min_interval + before + jitter:
            assert at < expires_at


class TestRetryDelay:
    def test_doubles_up_to_the_maximum(self):
        """10 s, 20 s, 40 s ... capped at retry_max, with no spread drawn."""
        delays = [retry_delay(failures=n, policy=POLICY, rand=lambda: 0.0) for n in range(1, 9)]

        assert [10, 20, 40, 80, 160, 300, 300, 300] == [d.total_seconds() for d in delays]

    @given(failures=st.integers(1, 10_000), draw=st.floats(0, 1))
    def test_spread_shortens_by_at_most_a_fifth(self, failures, draw):
        """Each delay lies between 80 % and 100 % of its base."""
        base = retry_delay(failures=failures, policy=POLICY, rand=lambda: 0.0)

        delay = retry_delay(failures=failures, policy=POLICY, rand=lambda: draw)

        assert base * 0.8 <= delay <= base
