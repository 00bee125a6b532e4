//! The one injected clock. Nothing else in cloudid reads the wall clock.
//!
//! The clock follows the system time plus an offset, or stands still at a frozen instant.
//! Tests move it with [`Clock::advance`] and [`Clock::set`]; the control plane exposes the same
//! operations at `/_cloudid/clock`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

/// The earliest instant the clock shows: 2000-01-01. Earlier, tokens the server mints itself
/// (GitHub's `nbf` is `iat` − 600 s) would carry times before 1970, which verifiers refuse.
pub const EARLIEST: OffsetDateTime = time::macros::datetime!(2000-01-01 00:00:00 UTC);
/// The latest instant the clock shows. Far enough from the end of the calendar (year 9999) that
/// adding any duration cloudid works with — a credential's lifetime, a key's grace period, a
/// fault's window, all at most [`MAX_SPAN_SECONDS`] — can never overflow.
pub const LATEST: OffsetDateTime = time::macros::datetime!(2999-12-31 23:59:59 UTC);
/// The longest duration the control plane takes (fault windows, key grace periods, expiry
/// shifts): ten years.
pub const MAX_SPAN_SECONDS: u64 = 10 * 365 * 86_400;

/// Whether `at` is within the clock's range, [`EARLIEST`] … [`LATEST`].
pub fn in_range(at: OffsetDateTime) -> bool {
    (EARLIEST..=LATEST).contains(&at)
}

fn clamp(at: OffsetDateTime) -> OffsetDateTime {
    at.clamp(EARLIEST, LATEST)
}

/// `seconds` as a duration, if it is within [`MAX_SPAN_SECONDS`]; for the control plane's
/// checks, so a refused number changes nothing.
pub fn span(seconds: u64) -> Option<time::Duration> {
    (seconds <= MAX_SPAN_SECONDS).then(|| time::Duration::seconds(seconds as i64))
}

/// A shared, movable clock. Cloning gives another handle to the same clock. It always shows an
/// instant between [`EARLIEST`] and [`LATEST`]: moves past either end stop there.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    state: Arc<RwLock<ClockState>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct ClockState {
    offset: time::Duration,
    frozen: Option<OffsetDateTime>,
}

impl Clock {
    /// A clock that follows the system time.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that stands still at `at` until it is moved.
    pub fn frozen_at(at: OffsetDateTime) -> Self {
        let clock = Self::default();
        clock.freeze_at(at);
        clock
    }

    fn wall() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn lock(&self) -> std::sync::RwLockWriteGuard<'_, ClockState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> ClockState {
        *self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The current time of this clock, in UTC.
    pub fn now(&self) -> OffsetDateTime {
        let s = self.read();
        match s.frozen {
            Some(at) => at,
            None => clamp(Self::wall().saturating_add(s.offset)),
        }
    }

    /// Moves the clock forward by `by` (it keeps running, or stays frozen at the new instant);
    /// no further than [`LATEST`].
    pub fn advance(&self, by: Duration) {
        let by = time::Duration::try_from(by).unwrap_or(time::Duration::MAX);
        let mut s = self.lock();
        match s.frozen.as_mut() {
            Some(at) => *at = clamp(at.saturating_add(by)),
            None => s.offset = s.offset.saturating_add(by).min(LATEST - Self::wall()),
        }
    }

    /// Sets the clock to `at` (held within [`EARLIEST`] … [`LATEST`]); a running clock keeps
    /// running from there.
    pub fn set(&self, at: OffsetDateTime) {
        let at = clamp(at);
        let mut s = self.lock();
        match s.frozen.as_mut() {
            Some(frozen) => *frozen = at,
            None => s.offset = at - Self::wall(),
        }
    }

    /// Stops the clock at `at`.
    pub fn freeze_at(&self, at: OffsetDateTime) {
        let at = clamp(at);
        let mut s = self.lock();
        s.frozen = Some(at);
        s.offset = time::Duration::ZERO;
    }

    /// Lets a frozen clock run again from the instant it was frozen at.
    pub fn unfreeze(&self) {
        let mut s = self.lock();
        if let Some(at) = s.frozen.take() {
            s.offset = at - Self::wall();
        }
    }

    /// Back to following the system time, unfrozen and without offset.
    pub fn reset(&self) {
        *self.lock() = ClockState::default();
    }

    /// Whether the clock is frozen.
    pub fn is_frozen(&self) -> bool {
        self.read().frozen.is_some()
    }
}

/// Formats `t` the way AWS credential documents do: `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso8601(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

/// Formats `t` as an HTTP `Date` header value (RFC 7231 IMF-fixdate).
pub fn http_date(t: OffsetDateTime) -> String {
    let secs = t.unix_timestamp().max(0) as u64;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Parses an RFC 3339 timestamp such as `2026-11-30T12:00:00Z`.
pub fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_frozen_clock_stands_still_until_advanced() {
        let clock = Clock::frozen_at(datetime!(2026-11-30 12:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-11-30 12:00 UTC));
        clock.advance(Duration::from_secs(3000));
        assert_eq!(clock.now(), datetime!(2026-11-30 12:50 UTC));
    }

    #[test]
    fn a_running_clock_moves_by_its_offset() {
        let clock = Clock::system();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        let after = clock.now();
        assert!(after - before >= time::Duration::seconds(3600));
        assert!(after - before < time::Duration::seconds(3700));
    }

    #[test]
    fn set_then_unfreeze_keeps_the_instant() {
        let clock = Clock::system();
        clock.set(datetime!(2030-01-01 00:00 UTC));
        let now = clock.now();
        assert!(now >= datetime!(2030-01-01 00:00 UTC) && now < datetime!(2030-01-01 00:01 UTC));
        clock.freeze_at(datetime!(2031-01-01 00:00 UTC));
        clock.unfreeze();
        assert!(clock.now() >= datetime!(2031-01-01 00:00 UTC));
        assert!(!clock.is_frozen());
    }

    #[test]
    fn the_clock_stops_at_the_ends_of_its_range_instead_of_overflowing() {
        let clock = Clock::frozen_at(datetime!(2999-12-31 00:00 UTC));
        clock.advance(Duration::from_secs(u64::MAX));
        assert_eq!(clock.now(), LATEST);
        clock.set(datetime!(9999-12-31 23:00 UTC));
        assert_eq!(clock.now(), LATEST);
        let running = Clock::system();
        running.advance(Duration::from_secs(u64::MAX));
        assert!(running.now() <= LATEST && running.now() > datetime!(2999-12-31 00:00 UTC));
        assert_eq!(span(MAX_SPAN_SECONDS + 1), None);
        assert_eq!(span(60), Some(time::Duration::minutes(1)));
    }

    #[test]
    fn timestamps_format_as_aws_and_http_expect() {
        let t = datetime!(2021-09-21 17:31:21 UTC);
        assert_eq!(iso8601(t), "2021-09-21T17:31:21Z");
        assert_eq!(http_date(t), "Tue, 21 Sep 2021 17:31:21 GMT");
        assert_eq!(parse_rfc3339("2021-09-21T17:31:21Z").unwrap(), t);
    }
}
