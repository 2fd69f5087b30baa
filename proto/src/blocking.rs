//! Blocking framing over any `Read`/`Write` (the shim, std-only clients, tests), and the
//! client's [`Connection`] built on it.

use std::io::{ErrorKind, Read, Write};

use serde::{de::DeserializeOwned, Serialize};

use crate::client::{self, ClientError, Session, Step};
use crate::frame::{self, Format, FrameError, HEADER_LEN};
use crate::message::{Request, Response};

/// Reads one frame. `Ok(None)` means the peer closed the connection cleanly between frames.
pub fn read_frame<R: Read>(r: &mut R, max: u32) -> Result<Option<(Format, Vec<u8>)>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (len, format) = frame::parse_header(header, max)?;
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })?;
    Ok(Some((format, payload)))
}

/// Encodes and writes one message as a frame, then flushes.
pub fn write_message<W: Write, T: Serialize>(
    w: &mut W,
    format: Format,
    msg: &T,
) -> Result<(), FrameError> {
    write_frame(w, &frame::encode(format, msg)?)
}

/// Writes one complete, already encoded frame, then flushes.
pub fn write_frame<W: Write>(w: &mut W, frame: &[u8]) -> Result<(), FrameError> {
    w.write_all(frame)?;
    w.flush()?;
    Ok(())
}

/// Reads and decodes one message; a clean close is reported as `Truncated` because the
/// caller was expecting an answer.
pub fn read_message<R: Read, T: DeserializeOwned>(r: &mut R, max: u32) -> Result<T, FrameError> {
    match read_frame(r, max)? {
        Some((format, payload)) => frame::decode(format, &payload),
        None => Err(FrameError::Truncated),
    }
}

/// A client's end of one connection to the broker: the handshake and frame limits of a
/// [`Session`] over a blocking stream. Read timeouts are the stream's own (set them on it
/// before or after [`Connection::open`]); a read that times out is
/// [`ClientError::TimedOut`].
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    session: Session,
}

impl<S: Read + Write> Connection<S> {
    /// Starts the conversation on a freshly connected `stream` by sending `Hello` as
    /// `client`; `Welcome` is read with the first reply. `endpoint` names the broker in
    /// errors: a broker that cannot even take `Hello` is unreachable.
    pub fn open(stream: S, endpoint: &str, client: &str) -> Result<Self, ClientError> {
        let mut conn = Self {
            stream,
            session: Session::new(Format::Binary),
        };
        let hello = conn.session.hello_frame(client)?;
        write_frame(&mut conn.stream, &hello)
            .map_err(|e| ClientError::unreachable(endpoint, client::io_error(e)))?;
        Ok(conn)
    }

    /// The underlying stream (to set its timeouts).
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Sends one request and reads its answer. A broker's `Error` reply is returned as a
    /// response (the caller decides what a refusal means); a refused handshake is an error.
    pub fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        let frame = self.session.encode(req)?;
        loop {
            match self.session.plan(&frame)? {
                Step::AwaitWelcome => self.welcome()?,
                step => {
                    write_frame(&mut self.stream, &frame).map_err(ClientError::after_send)?;
                    if step == Step::Pipeline {
                        self.welcome()?;
                    }
                    return self.read();
                }
            }
        }
    }

    fn welcome(&mut self) -> Result<(), ClientError> {
        let reply = self.read()?;
        self.session.welcome(reply)
    }

    fn read(&mut self) -> Result<Response, ClientError> {
        let max = self.session.reply_limit();
        self.session.reply(read_frame(&mut self.stream, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Request;
    use std::io::Cursor;

    #[test]
    fn eof_between_frames_is_clean_and_inside_is_truncated() {
        assert!(read_frame(&mut Cursor::new(Vec::<u8>::new()), 100)
            .unwrap()
            .is_none());
        assert!(matches!(
            read_frame(&mut Cursor::new(vec![9, 0]), 100),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_frame(&mut Cursor::new(vec![9, 0, 0, 0, b'J', b'{']), 100),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn write_then_read() {
        let mut buf = Vec::new();
        write_message(&mut buf, Format::Binary, &Request::Ping {}).unwrap();
        write_message(&mut buf, Format::Json, &Request::Status {}).unwrap();
        let mut c = Cursor::new(buf);
        let a: Request = read_message(&mut c, 1024).unwrap();
        let b: Request = read_message(&mut c, 1024).unwrap();
        assert_eq!((a, b), (Request::Ping {}, Request::Status {}));
    }

    /// A stream whose input is scripted and whose output is recorded.
    struct Scripted {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn broker_says(replies: &[Response]) -> Scripted {
        let mut input = Vec::new();
        for r in replies {
            write_message(&mut input, Format::Binary, r).unwrap();
        }
        Scripted {
            input: Cursor::new(input),
            output: Vec::new(),
        }
    }

    fn welcome(max_frame: u32) -> Response {
        Response::Welcome {
            version: crate::PROTOCOL_VERSION,
            server: "test".into(),
            max_frame,
        }
    }

    fn sent(output: &[u8]) -> Vec<Request> {
        let mut c = Cursor::new(output);
        std::iter::from_fn(|| read_frame(&mut c, u32::MAX).unwrap())
            .map(|(f, p)| frame::decode(f, &p).unwrap())
            .collect()
    }

    fn validate(len: usize) -> Request {
        Request::Validate {
            interface: "1101".into(),
            input: "x".repeat(len),
        }
    }

    #[test]
    fn a_request_over_the_announced_limit_is_never_written() {
        let pong = Response::Pong { server: "b".into() };
        let mut c =
            Connection::open(broker_says(&[welcome(2000), pong.clone()]), "e", "t").unwrap();
        let too_big = c.request(&validate(5000));
        assert!(
            matches!(too_big, Err(ClientError::TooLarge { max: 2000, .. })),
            "{too_big:?}"
        );
        // Only Hello went out, and the connection is still usable.
        assert_eq!(sent(&c.stream.output).len(), 1);
        assert_eq!(c.request(&Request::Ping {}).unwrap(), pong);
        assert_eq!(sent(&c.stream.output)[1], Request::Ping {});
    }

    #[test]
    fn a_small_first_request_is_pipelined_behind_hello() {
        let pong = Response::Pong { server: "b".into() };
        let mut c =
            Connection::open(broker_says(&[welcome(2000), pong.clone()]), "e", "t").unwrap();
        assert_eq!(c.request(&Request::Ping {}).unwrap(), pong);
        let out = sent(&c.stream.output);
        assert!(matches!(out[0], Request::Hello { .. }));
        assert_eq!(out[1], Request::Ping {});
    }

    #[test]
    fn a_closed_stream_after_the_request_is_a_lost_connection() {
        let mut c = Connection::open(broker_says(&[welcome(2000)]), "e", "t").unwrap();
        assert!(matches!(
            c.request(&Request::Ping {}),
            Err(ClientError::Lost(FrameError::Truncated))
        ));
    }
}
