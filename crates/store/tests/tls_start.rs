//! The SQL Server driver starts TLS exactly where the encryption mode says so, with the
//! crypto provider the workspace builds (ring; see vendor/README.md): a scripted server
//! answers the TDS prelogin and records the driver's next packet. It checks the start of
//! the TLS handshake only — a full one needs a real SQL Server (tests/mssql.rs).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::TokioAsyncWriteCompatExt;
use yibao_store::{MssqlAuth, MssqlEncryption, MssqlOptions};

/// TDS packet types (MS-TDS 2.2.3.1.1).
const PRELOGIN: u8 = 0x12;
const LOGIN7: u8 = 0x10;
const TABULAR_RESULT: u8 = 0x04;
/// The server's prelogin ENCRYPTION values (MS-TDS 2.2.6.5).
const ENCRYPT_OFF: u8 = 0;
const ENCRYPT_ON: u8 = 1;
const ENCRYPT_NOT_SUP: u8 = 2;
/// The first bytes of a TLS record carrying a handshake message (ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;
const TLS_MAJOR: u8 = 0x03;

async fn read_packet<R: AsyncRead + Unpin>(r: &mut R) -> (u8, Vec<u8>) {
    let mut header = [0u8; 8];
    r.read_exact(&mut header).await.unwrap();
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let mut payload = vec![0u8; len - header.len()];
    r.read_exact(&mut payload).await.unwrap();
    (header[0], payload)
}

/// A prelogin answer with VERSION and ENCRYPTION only.
fn prelogin_reply(encryption: u8) -> Vec<u8> {
    // Option table: (token, offset u16 BE, length u16 BE) per option, a terminator, the data.
    let mut payload = vec![0x00, 0, 11, 0, 6]; // VERSION at 11, 6 bytes
    payload.extend([0x01, 0, 17, 0, 1]); // ENCRYPTION at 17, 1 byte
    payload.push(0xff); // terminator
    payload.extend([15, 0, 0x07, 0xd0, 0, 0]); // version 15.0.2000, sub-build 0
    payload.push(encryption);
    let len = u16::try_from(8 + payload.len()).unwrap().to_be_bytes();
    let mut packet = vec![TABULAR_RESULT, 0x01, len[0], len[1], 0, 0, 1, 0];
    packet.extend_from_slice(&payload);
    packet
}

/// The packet the driver sends after a server answered its prelogin with `server`.
async fn after_prelogin(mode: MssqlEncryption, trust: bool, server: u8) -> (u8, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut opts = MssqlOptions::new("yibao", MssqlAuth::Sql);
    opts.user = Some("u".into());
    opts.password = Some("p".into());
    opts.host = "127.0.0.1".into();
    opts.port = Some(listener.local_addr().unwrap().port());
    opts.encryption = mode;
    opts.trust_server_certificate = trust;
    let config = opts.tiberius_config().unwrap();
    let driver = tokio::spawn(async move {
        let tcp = TcpStream::connect(config.get_addr()).await.unwrap();
        // The scripted server hangs up after one more packet: the connect fails, and only
        // what the driver sent matters.
        let _ = tiberius::Client::connect(config, tcp.compat_write()).await;
    });
    let (mut server_side, _) = listener.accept().await.unwrap();
    assert_eq!(read_packet(&mut server_side).await.0, PRELOGIN);
    server_side
        .write_all(&prelogin_reply(server))
        .await
        .unwrap();
    let next = read_packet(&mut server_side).await;
    drop(server_side);
    tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("the driver gives up once the server hangs up")
        .unwrap();
    next
}

fn is_client_hello((kind, payload): &(u8, Vec<u8>)) -> bool {
    // Before login, TLS records travel inside prelogin packets.
    *kind == PRELOGIN && payload.len() > 5 && payload[0] == TLS_HANDSHAKE && payload[1] == TLS_MAJOR
}

#[tokio::test]
async fn required_encryption_starts_tls_with_or_without_certificate_checks() {
    for trust in [true, false] {
        let next = after_prelogin(MssqlEncryption::Required, trust, ENCRYPT_ON).await;
        assert!(is_client_hello(&next), "trust={trust}: {next:?}");
    }
}

#[tokio::test]
async fn off_still_encrypts_the_login() {
    let next = after_prelogin(MssqlEncryption::Off, true, ENCRYPT_OFF).await;
    assert!(is_client_hello(&next), "{next:?}");
}

#[tokio::test]
async fn not_supported_sends_the_login_in_the_clear() {
    let next = after_prelogin(MssqlEncryption::NotSupported, true, ENCRYPT_NOT_SUP).await;
    assert_eq!(next.0, LOGIN7, "{next:?}");
}
