//! Message ids: `fixmedins_code + yyyyMMddHHmmss + 4-digit sequence` (30 characters for a
//! 12-character institution code), unique for every send.
//!
//! The broker owns the only counter, so ids are unique across all its workers. When more
//! than 10,000 ids are needed within one second, the generator moves on to the next second
//! (ids run slightly ahead of the clock rather than ever repeating). Several brokers on one
//! database each get a `node` digit that becomes the first digit of the sequence, splitting
//! the space between them. After a restart, [`MsgIdGenerator::resume_after`] with the last
//! msgid stored makes sure no id issued before the restart is issued again.

use std::sync::Mutex;

use chrono::DateTime;

use crate::time;

/// Hands out msgids. Cheap to call from many tasks at once (one short lock).
#[derive(Debug)]
pub struct MsgIdGenerator {
    prefix: String,
    node: Option<u8>,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
struct State {
    /// Unix seconds of the last id issued.
    second: i64,
    /// Sequence within that second (before the node digit is applied).
    seq: u32,
}

impl MsgIdGenerator {
    /// `node` (0–9) is needed only when several brokers share one institution code.
    pub fn new(fixmedins_code: &str, node: Option<u8>) -> Self {
        Self {
            prefix: fixmedins_code.to_string(),
            node: node.map(|n| n.min(9)),
            state: Mutex::new(State {
                second: i64::MIN,
                seq: 0,
            }),
        }
    }

    fn per_second(&self) -> u32 {
        if self.node.is_some() {
            1_000
        } else {
            10_000
        }
    }

    /// The next msgid.
    pub fn next_id(&self) -> String {
        self.next_at(time::epoch_ms().div_euclid(1000))
    }

    fn next_at(&self, now_second: i64) -> String {
        let per_second = self.per_second();
        let State { second, seq } = {
            // A poisoned lock only means another thread panicked mid-update of two integers;
            // the state is still usable.
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if now_second > st.second {
                *st = State {
                    second: now_second,
                    seq: 0,
                };
            } else {
                st.seq += 1;
                if st.seq >= per_second {
                    st.second += 1;
                    st.seq = 0;
                }
            }
            *st
        };
        let seq = match self.node {
            Some(n) => u32::from(n) * 1_000 + seq,
            None => seq,
        };
        let t = DateTime::from_timestamp(second, 0)
            .unwrap_or_default()
            .with_timezone(&time::beijing());
        format!("{}{}{:04}", self.prefix, time::format_compact(&t), seq)
    }

    /// Jumps ahead by up to a quarter of a second's ids, at random. Called after the
    /// database reported a collision with another broker that shares this institution code
    /// without a `node`: two generators walking in step would otherwise keep colliding.
    pub fn skip_ahead(&self) {
        let per_second = self.per_second();
        let jump = 1 + rand::random::<u32>() % (per_second / 4);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.seq += jump;
        if st.seq >= per_second {
            st.second += 1;
            st.seq -= per_second;
        }
    }

    /// Continues after `last`, a msgid this institution issued earlier (e.g. the newest one
    /// in the attempts table), so a quick restart cannot reissue it. Ids of another form
    /// are ignored.
    pub fn resume_after(&self, last: &str) {
        let Some(rest) = last.strip_prefix(&self.prefix) else {
            return;
        };
        if rest.len() != 18 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return;
        }
        let (stamp, seq) = rest.split_at(14);
        let (Some(t), Ok(seq)) = (time::parse_compact(stamp), seq.parse::<u32>()) else {
            return;
        };
        let seq = match self.node {
            Some(n) if seq / 1_000 == u32::from(n) => seq % 1_000,
            Some(_) => return,
            None => seq,
        };
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let candidate = State {
            second: t.timestamp(),
            seq,
        };
        if (candidate.second, candidate.seq) > (st.second, st.seq) {
            *st = candidate;
        }
    }
}

#[cfg(test)]
mod skip_tests {
    use super::*;

    #[test]
    fn skipping_never_goes_back_and_stays_well_formed() {
        let g = MsgIdGenerator::new("H43010000001", None);
        let mut last = g.next_at(1_000);
        for _ in 0..200 {
            g.skip_ahead();
            let next = g.next_at(1_000);
            assert!(next > last, "{next} <= {last}");
            assert_eq!(next.len(), 30);
            last = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn shape_is_code_time_sequence() {
        let g = MsgIdGenerator::new("H43010000001", None);
        let id = g.next_id();
        assert_eq!(id.len(), 30);
        assert!(id.starts_with("H43010000001"));
        assert!(id[12..].bytes().all(|b| b.is_ascii_digit()));
        assert!(time::parse_compact(&id[12..26]).is_some());
    }

    #[test]
    fn overflowing_a_second_moves_ahead_instead_of_repeating() {
        let g = MsgIdGenerator::new("H1", None);
        let ids: Vec<String> = (0..25_000).map(|_| g.next_at(1_700_000_000)).collect();
        let set: HashSet<&String> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
        // The 10,001st id belongs to the next second.
        assert_ne!(ids[9_999][2..16], ids[10_000][2..16]);
        assert!(ids[10_000].ends_with("0000"));
    }

    #[test]
    fn unique_under_concurrency() {
        let g = Arc::new(MsgIdGenerator::new("H43010000001", None));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || (0..5_000).map(|_| g.next_id()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(all.insert(id));
            }
        }
        assert_eq!(all.len(), 40_000);
    }

    #[test]
    fn nodes_never_collide() {
        let a = MsgIdGenerator::new("H1", Some(1));
        let b = MsgIdGenerator::new("H1", Some(2));
        let mut all = HashSet::new();
        for _ in 0..3_000 {
            assert!(all.insert(a.next_at(1_700_000_000)));
            assert!(all.insert(b.next_at(1_700_000_000)));
        }
    }

    #[test]
    fn resume_after_never_reissues() {
        let g = MsgIdGenerator::new("H1", None);
        let first = g.next_at(1_700_000_000);
        let restarted = MsgIdGenerator::new("H1", None);
        restarted.resume_after(&first);
        restarted.resume_after("garbage");
        restarted.resume_after("H1x");
        let next = restarted.next_at(1_700_000_000);
        assert_ne!(first, next);
        assert!(next > first);
    }
}
