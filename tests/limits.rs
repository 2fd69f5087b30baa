//! The broker stays available at its edges: idle sockets cannot lock callers out, a flood
//! of half-sent large frames cannot take its memory, and an idle connection is closed.
#![cfg(unix)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use yibao::{stdout, Env, Options};

fn socket(env: &Env) -> UnixStream {
    UnixStream::connect(format!("/tmp/{}.sock", env.pipe)).expect("connect")
}

fn frame(json: &str) -> Vec<u8> {
    let mut f = (json.len() as u32).to_le_bytes().to_vec();
    f.push(b'J');
    f.extend_from_slice(json.as_bytes());
    f
}

const HELLO: &str = r#"{"Hello":{"version":1,"client":"limits-test"}}"#;

/// Reads one JSON frame's text; `None` on EOF.
fn recv(s: &mut UnixStream) -> Option<String> {
    let mut header = [0u8; 5];
    s.read_exact(&mut header).ok()?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).ok()?;
    Some(String::from_utf8_lossy(&payload).into_owned())
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// More idle sockets than connection slots: a caller is answered `Busy` at once (exit 6)
/// instead of hanging behind them, and once the idle sockets miss their handshake
/// deadline they are told so and closed, and calls go through again.
#[test]
fn idle_sockets_do_not_lock_callers_out() {
    let env = Env::start_with(Options {
        extra_toml: "[broker]\nmax_connections = 20\nhandshake_timeout_ms = 2000\n".into(),
        ..Options::default()
    });
    let mut idle: Vec<UnixStream> = (0..25).map(|_| socket(&env)).collect();
    let out = env.shim(&["ping"]);
    assert_eq!(out.status.code(), Some(6), "{}", stdout(&out));
    assert_eq!(stdout(&out), "error Busy");
    assert!(yibao::stderr(&out).contains("max_connections"));
    yibao::wait_until("ping answers again", Duration::from_secs(15), || {
        env.shim(&["ping"]).status.code() == Some(0)
    });
    // The first idle socket took a slot and was told why it was closed.
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let told = recv(&mut idle[0]).unwrap_or_default();
    assert!(told.contains("HandshakeRequired"), "{told}");
    assert!(recv(&mut idle[0]).is_none(), "closed after telling");
}

/// Forty connections each announce a 6 MiB frame and send 3 MiB of it. Only as many as
/// the shared budget (`max_buffered_bytes`, 16 MiB) allows are read at a time, and the
/// buffers grow with what arrives, so the broker's memory stays near where it was; small
/// frames (a ping) are never held up by the budget.
#[test]
fn half_sent_large_frames_cannot_take_the_memory() {
    let env = Env::start_with(Options {
        max_frame_bytes: 8 * 1024 * 1024,
        extra_toml: "[broker]\nmax_buffered_bytes = 16777216\nidle_timeout_ms = 3000\n\
                     handshake_timeout_ms = 3000\n"
            .into(),
        ..Options::default()
    });
    let pid = env.broker_pid();
    let before = rss_kib(pid);
    let sent = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..40)
        .map(|_| {
            let mut s = socket(&env);
            let sent = sent.clone();
            std::thread::spawn(move || {
                let mut head = frame(HELLO);
                head.extend_from_slice(&(6u32 * 1024 * 1024).to_le_bytes());
                head.push(b'J');
                if s.write_all(&head).is_err() {
                    return;
                }
                if s.write_all(&vec![b' '; 3 * 1024 * 1024]).is_ok() {
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                // Hold the connection half-sent until the broker closes it.
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            })
        })
        .collect();
    yibao::wait_until("some frames half-sent", Duration::from_secs(20), || {
        sent.load(Ordering::SeqCst) >= 2
    });
    assert_eq!(
        env.shim(&["ping"]).status.code(),
        Some(0),
        "a ping is not held up"
    );
    let mut peak = rss_kib(pid);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        peak = peak.max(rss_kib(pid));
    }
    let grew_mib = peak.saturating_sub(before) / 1024;
    assert!(grew_mib < 32, "broker RSS grew by {grew_mib} MiB");
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(env.shim(&["ping"]).status.code(), Some(0));
}

/// A connection that goes quiet after its answer is closed after `idle_timeout_ms`.
#[test]
fn an_idle_connection_is_closed() {
    let env = Env::start_with(Options {
        extra_toml: "[broker]\nidle_timeout_ms = 300\n".into(),
        ..Options::default()
    });
    let mut s = socket(&env);
    s.write_all(&frame(HELLO)).unwrap();
    assert!(recv(&mut s).unwrap().contains("Welcome"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(recv(&mut s).is_none(), "closed after the idle timeout");
}
