//! Both clients against a scripted broker on a real local socket: the frame limit the
//! broker announces is honoured before a byte of an oversized request is written, and a
//! silent broker ends in `TimedOut` instead of a hang.

use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use interprocess::local_socket::{prelude::*, GenericFilePath, ListenerOptions};
use yibao_proto::{blocking, Format, Request, Response, PROTOCOL_VERSION};

use super::*;

/// How the scripted broker behaves after reading `Hello`.
#[derive(Clone, Copy)]
enum Script {
    /// Answers `Hello` with a `Welcome` announcing this `max_frame`, then only listens.
    Welcome(u32),
    /// Never answers.
    Silent,
}

/// A one-connection broker; joining it yields every request it received.
struct FakeBroker {
    pipe: String,
    thread: JoinHandle<Vec<Request>>,
}

impl FakeBroker {
    fn start(script: Script) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pipe = format!(
            "yibao-client-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let endpoint = yibao_proto::resolve_endpoint(&pipe);
        let name = endpoint.to_fs_name::<GenericFilePath>().unwrap();
        let listener = ListenerOptions::new().name(name).create_sync().unwrap();
        let thread = std::thread::spawn(move || {
            let mut s = listener.accept().unwrap();
            let mut got = Vec::new();
            // Read until the client hangs up; errors end the conversation too.
            while let Ok(Some((f, payload))) = blocking::read_frame(&mut s, u32::MAX) {
                let req: Request = yibao_proto::frame::decode(f, &payload).unwrap();
                if let (Request::Hello { .. }, Script::Welcome(max_frame)) = (&req, script) {
                    let welcome = Response::Welcome {
                        version: PROTOCOL_VERSION,
                        server: "fake".into(),
                        max_frame,
                    };
                    blocking::write_message(&mut s, Format::Binary, &welcome).unwrap();
                }
                got.push(req);
            }
            got
        });
        Self { pipe, thread }
    }

    fn received(self) -> Vec<Request> {
        self.thread.join().unwrap()
    }
}

/// An input whose `Call` frame is well over the fake broker's limit of 2000 bytes.
fn big_input() -> String {
    format!(r#"{{"data":{{"note":"{}"}}}}"#, "x".repeat(5000))
}

fn only_hello(got: &[Request]) {
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(matches!(got[0], Request::Hello { .. }), "{got:?}");
}

#[test]
fn blocking_client_refuses_a_request_over_max_frame_before_writing_it() {
    let broker = FakeBroker::start(Script::Welcome(2000));
    let c = YibaoClient::new(broker.pipe.clone());
    let r = c.call_sync(
        "2207",
        &big_input(),
        Duration::from_secs(5),
        Overrides::default(),
    );
    assert!(matches!(r, Err(Error::TooLarge { max: 2000, .. })), "{r:?}");
    let shown = r.unwrap_err().to_string();
    assert!(
        shown.contains("2000") && shown.contains("not sent"),
        "{shown}"
    );
    only_hello(&broker.received());
}

#[cfg(unix)] // Windows named pipes have no read timeout (the shim has its watchdog)
#[test]
fn blocking_client_times_out_on_a_silent_broker() {
    let broker = FakeBroker::start(Script::Silent);
    let c = YibaoClient::new(broker.pipe.clone()).with_grace(Duration::from_millis(200));
    let started = Instant::now();
    let r = c.wait_for_result(1, Duration::from_millis(100));
    assert!(matches!(r, Err(Error::TimedOut)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(broker.received());
}

#[cfg(feature = "async")]
mod nonblocking {
    use super::*;

    #[tokio::test]
    async fn async_client_refuses_a_request_over_max_frame_before_writing_it() {
        let broker = FakeBroker::start(Script::Welcome(2000));
        let c = AsyncYibaoClient::new(broker.pipe.clone());
        let r = c
            .call_sync(
                "2207",
                &big_input(),
                Duration::from_secs(5),
                Overrides::default(),
            )
            .await;
        assert!(matches!(r, Err(Error::TooLarge { max: 2000, .. })), "{r:?}");
        only_hello(&broker.received());
    }

    #[tokio::test]
    async fn async_client_times_out_on_a_silent_broker() {
        let broker = FakeBroker::start(Script::Silent);
        let c = AsyncYibaoClient::new(broker.pipe.clone()).with_grace(Duration::from_millis(200));
        let started = Instant::now();
        let r = c.wait_for_result(1, Duration::from_millis(100)).await;
        assert!(matches!(r, Err(Error::TimedOut)), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // The client hung up on timing out, which ends the fake broker.
        let got = broker.received();
        assert!(matches!(got[0], Request::Hello { .. }), "{got:?}");
        assert!(matches!(got[1], Request::Wait { .. }), "{got:?}");
    }

    #[tokio::test]
    async fn both_clients_report_an_absent_broker_the_same_way() {
        let pipe = format!("yibao-client-test-absent-{}", std::process::id());
        let a = AsyncYibaoClient::new(pipe.clone()).get_result(1).await;
        let b = YibaoClient::new(pipe).get_result(1);
        assert!(matches!(a, Err(Error::Unreachable { .. })), "{a:?}");
        assert!(matches!(b, Err(Error::Unreachable { .. })), "{b:?}");
    }
}
