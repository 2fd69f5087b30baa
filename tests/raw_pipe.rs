//! Talking to the broker without any yibao crate: a JSON-framed client in std only (what a
//! C# or Python program does), and the broker's defence against bad frames and bad input.
#![cfg(unix)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{json, Value};
use yibao::{person_input, stdout, Env};

/// The whole client: 4-byte little-endian payload length, tag 'J', UTF-8 JSON.
struct JsonClient {
    s: UnixStream,
}

impl JsonClient {
    fn connect(env: &Env) -> Self {
        let path = format!("/tmp/{}.sock", env.pipe);
        let s = UnixStream::connect(path).expect("connect to the broker's socket");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        JsonClient { s }
    }

    fn send(&mut self, v: &Value) {
        let payload = v.to_string().into_bytes();
        let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
        frame.push(b'J');
        frame.extend_from_slice(&payload);
        self.s.write_all(&frame).expect("write frame");
    }

    /// Reads one frame; `None` when the broker closed the connection.
    fn recv(&mut self) -> Option<Value> {
        let mut header = [0u8; 5];
        if self.s.read_exact(&mut header).is_err() {
            return None;
        }
        assert_eq!(header[4], b'J', "the broker answers in the client's format");
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let mut payload = vec![0u8; len];
        self.s.read_exact(&mut payload).expect("payload");
        Some(serde_json::from_slice(&payload).expect("JSON reply"))
    }

    fn hello(&mut self) {
        self.send(&json!({"Hello": {"version": 1, "client": "std-json-test"}}));
        let w = self.recv().expect("welcome");
        assert_eq!(w["Welcome"]["version"], 1, "{w}");
    }
}

#[test]
fn a_std_only_json_client_can_call() {
    let env = Env::start();
    let mut c = JsonClient::connect(&env);
    c.hello();
    c.send(&json!({"Call": {"interface": "1101", "input": person_input(21), "mode": "Sync", "wait_ms": 10000}}));
    let r = c.recv().expect("outcome");
    let o = &r["Outcome"];
    assert_eq!(o["status"], "COMPLETED", "{r}");
    assert_eq!(o["infcode"], "0");
    let resp: Value = serde_json::from_str(o["response"].as_str().unwrap()).unwrap();
    assert!(resp["output"]["baseinfo"]["psn_no"].is_string());
    // Same connection, more requests; optional fields may be omitted.
    c.send(&json!({"Ping": {}}));
    assert!(c.recv().unwrap()["Pong"]["server"].is_string());
    c.send(&json!({"Result": {"request_id": o["request_id"]}}));
    assert_eq!(c.recv().unwrap()["Outcome"]["status"], "COMPLETED");
}

#[test]
fn the_handshake_is_required_and_versions_are_checked() {
    let env = Env::start();
    let mut c = JsonClient::connect(&env);
    c.send(&json!({"Ping": {}}));
    assert_eq!(c.recv().unwrap()["Error"]["code"], "HandshakeRequired");
    assert!(c.recv().is_none(), "closed after a refused handshake");
    let mut c = JsonClient::connect(&env);
    c.send(&json!({"Hello": {"version": 99, "client": "future"}}));
    assert_eq!(c.recv().unwrap()["Error"]["code"], "UnsupportedVersion");
}

#[test]
fn an_oversized_frame_is_refused_and_the_broker_keeps_serving() {
    let env = Env::start(); // max_frame_bytes = 65536
    let mut c = JsonClient::connect(&env);
    c.hello();
    // A header announcing 4 GiB: refused before anything is allocated or read.
    c.s.write_all(&[0xff, 0xff, 0xff, 0xff, b'J']).unwrap();
    let r = c.recv().expect("error reply");
    assert_eq!(r["Error"]["code"], "FrameTooLarge", "{r}");
    assert!(c.recv().is_none(), "connection closed after a bad frame");

    // A real payload just over the limit.
    let mut c = JsonClient::connect(&env);
    c.hello();
    let big = "x".repeat(70_000);
    let payload = json!({"Call": {"interface": "1101", "input": big}}).to_string();
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.push(b'J');
    frame.extend_from_slice(payload.as_bytes());
    let _ = c.s.write_all(&frame); // the broker may close before reading it all
    assert_eq!(
        c.recv().expect("error reply")["Error"]["code"],
        "FrameTooLarge"
    );

    // Garbage inside a well-sized frame, and an unknown format tag.
    let mut c = JsonClient::connect(&env);
    c.hello();
    c.s.write_all(&[3, 0, 0, 0, b'J', b'{', b'{', b'{'])
        .unwrap();
    assert_eq!(c.recv().unwrap()["Error"]["code"], "BadFrame");
    let mut c = JsonClient::connect(&env);
    c.s.write_all(&[2, 0, 0, 0, b'X', b'{', b'}']).unwrap();
    assert_eq!(c.recv().unwrap()["Error"]["code"], "BadFrame");

    // Still serving.
    let out = env.shim(&["ping"]);
    assert_eq!(out.status.code(), Some(0));
    let id = env.insert("1101", &person_input(22));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
}

#[test]
fn malformed_input_json_ends_as_an_error_row_and_nothing_is_sent() {
    let env = Env::start();
    for (i, bad) in ["{\"data\": {\"psn_no\": ", "[1,2,3]", ""]
        .iter()
        .enumerate()
    {
        let id = env.insert("1101", bad);
        let out = env.shim(&["run", &id.to_string()]);
        assert_eq!(out.status.code(), Some(1), "case {i}: {}", stdout(&out));
        let row = env.view(id);
        assert_eq!(row.status, "ERROR");
        let msg = row.err_msg.unwrap_or_default();
        assert!(msg.contains("input_data") && msg.contains("JSON"), "{msg}");
        // The response row has the platform's error shape, so HIS code needs no special case.
        let resp: Value = serde_json::from_str(&row.response_data.unwrap()).unwrap();
        assert_eq!(resp["infcode"], -1);
    }
    // A malformed or unknown interface code is refused too, without being sent.
    let id = env.insert("11 01; --", &person_input(1));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(1));
    assert!(env.view(id).err_msg.unwrap().contains("交易编号"));
    let id = env.insert("7777", &person_input(1));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(1));
    assert!(env.view(id).err_msg.unwrap().contains("[interfaces.7777]"));
    assert_eq!(env.mock_stats()["by_infno"].as_object().unwrap().len(), 0);

    // The broker still serves a good request.
    let id = env.insert("1101", &person_input(23));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
}
