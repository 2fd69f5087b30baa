//! How long the dispatcher waits before it looks for PENDING rows again.
//!
//! Rows inserted by plain SQL (the `poll` mode of `sp_medical_insurance_call`, or HIS code
//! writing the table directly) reach the broker only by being looked for, so the wait is
//! the latency such a call pays. A fixed interval forces a choice between slow calls and a
//! busy database; the pace is short right after work or a wake-up (more rows tend to follow:
//! a cashier's next step, a prescription's next line) and doubles on every look that finds
//! nothing, up to the idle ceiling. An idle broker therefore costs `1000 / ceiling_ms`
//! indexed queries a second, and the first row after a quiet spell waits at most `ceiling`.
//! A database error backs off further, to [`MAX_BACKOFF`], so an outage is not hammered.

use std::time::Duration;

/// Longest pause after a database error.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The dispatcher's current wait.
#[derive(Debug, Clone)]
pub struct Pace {
    floor: Duration,
    ceiling: Duration,
    next: Duration,
}

impl Pace {
    /// `floor` after work, `ceiling` when idle (`floor` is raised to at most `ceiling`).
    pub fn new(floor: Duration, ceiling: Duration) -> Self {
        let floor = floor.min(ceiling);
        Self {
            floor,
            ceiling,
            next: floor,
        }
    }

    /// The wait before the next look.
    pub fn next(&self) -> Duration {
        self.next
    }

    /// A look that claimed `claimed` rows: back to the floor after work, slower after none.
    pub fn looked(&mut self, claimed: usize) {
        self.next = if claimed > 0 {
            self.floor
        } else {
            (self.next * 2).clamp(self.floor, self.ceiling)
        };
    }

    /// Woken by a kick, an async call or a freed worker: work is about, look soon again.
    pub fn woken(&mut self) {
        self.next = self.floor;
    }

    /// A look that failed on the database: double, past the ceiling, up to [`MAX_BACKOFF`].
    pub fn failed(&mut self) {
        self.next = (self.next.max(self.ceiling) * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn idle_backs_off_to_the_ceiling_and_work_returns_to_the_floor() {
        let mut p = Pace::new(ms(5), ms(20));
        assert_eq!(p.next(), ms(5));
        let waits: Vec<Duration> = (0..5)
            .map(|_| {
                p.looked(0);
                p.next()
            })
            .collect();
        assert_eq!(waits, vec![ms(10), ms(20), ms(20), ms(20), ms(20)]);
        p.looked(3);
        assert_eq!(p.next(), ms(5));
        p.looked(0);
        p.woken();
        assert_eq!(p.next(), ms(5));
    }

    #[test]
    fn errors_back_off_past_the_ceiling_and_recover_on_success() {
        let mut p = Pace::new(ms(5), ms(20));
        p.failed();
        assert_eq!(p.next(), ms(40));
        for _ in 0..20 {
            p.failed();
        }
        assert_eq!(p.next(), MAX_BACKOFF);
        p.looked(0);
        assert_eq!(
            p.next(),
            ms(20),
            "a working database is polled at the ceiling again"
        );
    }

    #[test]
    fn a_floor_above_the_ceiling_is_the_ceiling() {
        let p = Pace::new(ms(50), ms(20));
        assert_eq!(p.next(), ms(20));
    }
}
