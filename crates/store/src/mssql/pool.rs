//! Connections to SQL Server: a small bb8 manager over tiberius (neither published pool
//! crate supports tiberius 0.13), one helper that runs a parameterised batch under the
//! command timeout, and the translation of driver errors into messages an operator can act
//! on ("login failed", "database missing", "run sql/install.sql", TLS).

use tiberius::error::Error as TdsError;
use tiberius::{Client, Config, Row, SqlBrowser, ToSql};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::options::MssqlOptions;
use crate::StoreError;

/// A pooled connection that remembers whether it can still be trusted.
pub(super) struct Conn {
    client: Client<Compat<TcpStream>>,
    /// Set after any error or timeout: the connection may hold half a response, so it is
    /// dropped instead of returned to the pool.
    broken: bool,
}

pub(super) struct Manager {
    config: Config,
    named_instance: bool,
}

impl Manager {
    pub(super) fn new(opts: &MssqlOptions) -> Result<Self, StoreError> {
        Ok(Self {
            config: opts.tiberius_config()?,
            named_instance: opts.instance.is_some() && opts.connection_string.is_none(),
        })
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = Conn;
    type Error = TdsError;

    async fn connect(&self) -> Result<Conn, TdsError> {
        let tcp = if self.named_instance {
            TcpStream::connect_named(&self.config).await?
        } else {
            TcpStream::connect(self.config.get_addr()).await?
        };
        tcp.set_nodelay(true)?;
        let client = Client::connect(self.config.clone(), tcp.compat_write()).await?;
        Ok(Conn {
            client,
            broken: false,
        })
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<(), TdsError> {
        conn.client
            .simple_query("SELECT 1")
            .await?
            .into_row()
            .await?;
        Ok(())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken
    }
}

/// The pool plus the last connect error, which bb8 hands to an error sink rather than to
/// the caller waiting for a connection: without it, every outage would read "timed out".
#[derive(Clone)]
pub(super) struct Pool {
    inner: bb8::Pool<Manager>,
    last_error: LastError,
}

#[derive(Debug, Clone, Default)]
struct LastError(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl LastError {
    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl bb8::ErrorSink<TdsError> for LastError {
    fn sink(&self, e: TdsError) {
        tracing::warn!("SQL Server connection failed: {}", describe(&e));
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(describe(&e).to_string());
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<TdsError>> {
        Box::new(self.clone())
    }
}

/// Connects once (so a wrong address, login or database fails now, with its cause), then
/// builds the pool around that connection.
pub(super) async fn build(opts: &MssqlOptions) -> Result<Pool, StoreError> {
    let manager = Manager::new(opts)?;
    let first = tokio::time::timeout(
        opts.connect_timeout,
        bb8::ManageConnection::connect(&manager),
    )
    .await
    .map_err(|_| {
        StoreError::Unavailable(format!(
            "连接 SQL Server 超时（{} ms）/ timed out connecting to SQL Server ({} ms)",
            opts.connect_timeout.as_millis(),
            opts.connect_timeout.as_millis()
        ))
    })?
    .map_err(|e| describe(&e))?;
    let last_error = LastError::default();
    let inner = bb8::Pool::builder()
        .max_size(opts.pool_max.max(1))
        .connection_timeout(opts.connect_timeout)
        // A checkout test is a round trip per statement; broken connections are found by
        // `broken` instead, and idle ones are retired before a firewall forgets them.
        .test_on_check_out(false)
        // Report the first connect failure with its cause ("login failed", "refused")
        // instead of retrying until the timeout hides it; callers retry on their own cycle.
        .retry_connection(false)
        .idle_timeout(Some(std::time::Duration::from_secs(120)))
        .max_lifetime(Some(std::time::Duration::from_secs(1800)))
        .error_sink(Box::new(last_error.clone()))
        .build_unchecked(manager);
    // The pool is below max_size here, so it takes the connection.
    let _ = inner.add(first);
    Ok(Pool { inner, last_error })
}

/// A failed batch: the store error, and the server's error number when there is one
/// (2627/2601 = unique key, which the caller may want to tell apart).
#[derive(Debug)]
pub(super) struct Failure {
    pub error: StoreError,
    pub server_code: Option<u32>,
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> Self {
        f.error
    }
}

fn fail(error: StoreError) -> Failure {
    Failure {
        error,
        server_code: None,
    }
}

/// Runs one parameterised batch and returns all its result sets.
pub(super) async fn run(
    pool: &Pool,
    timeout: std::time::Duration,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<Vec<Row>>, Failure> {
    let mut sets = run_sequence(pool, timeout, &[(sql, params)], |_| true).await?;
    Ok(sets.pop().unwrap_or_default())
}

/// One batch, its parameters.
pub(super) type Batch<'a> = (&'a str, &'a [&'a dyn ToSql]);

/// Runs batches in turn on one connection under one timeout, while `go_on` approves the
/// previous batch's result sets; returns each run batch's result sets. A transaction that
/// spans the batches is the SQL's own (BEGIN in the first, COMMIT in the last): when any
/// batch fails or the time runs out, the connection is closed instead of pooled, and the
/// server rolls back whatever it left open.
pub(super) async fn run_sequence(
    pool: &Pool,
    timeout: std::time::Duration,
    batches: &[Batch<'_>],
    go_on: impl Fn(&[Vec<Row>]) -> bool,
) -> Result<Vec<Vec<Vec<Row>>>, Failure> {
    let mut conn = pool.inner.get().await.map_err(|e| match e {
        bb8::RunError::User(e) => fail(describe(&e)),
        bb8::RunError::TimedOut => fail(match pool.last_error.take() {
            Some(cause) => StoreError::Unavailable(cause),
            None => StoreError::Unavailable(
                "连接 SQL Server 超时 / timed out connecting to SQL Server".into(),
            ),
        }),
    })?;
    // Broken until the batches have run to their end: a caller that drops this future
    // midway (a job that lost its lease, a timeout above) must not hand a connection with
    // an open transaction back to the pool, where the next statements would run inside it.
    conn.broken = true;
    let outcome = {
        let client = &mut conn.client;
        let work = async move {
            let mut out: Vec<Vec<Vec<Row>>> = Vec::with_capacity(batches.len());
            for (sql, params) in batches {
                if out.last().is_some_and(|sets| !go_on(sets)) {
                    break;
                }
                out.push(client.query(*sql, params).await?.into_results().await?);
            }
            Ok::<_, TdsError>(out)
        };
        tokio::time::timeout(timeout, work).await
    };
    match outcome {
        Ok(Ok(sets)) => {
            conn.broken = false;
            Ok(sets)
        }
        Ok(Err(e)) => {
            conn.broken = true;
            Err(Failure {
                error: describe(&e),
                server_code: match &e {
                    TdsError::Server(t) => Some(t.code()),
                    _ => None,
                },
            })
        }
        Err(_) => {
            conn.broken = true;
            Err(fail(StoreError::Unavailable(format!(
                "SQL Server 在 {} ms 内没有完成语句 / SQL Server did not finish the statement within {} ms",
                timeout.as_millis(),
                timeout.as_millis()
            ))))
        }
    }
}

/// A driver error as an operator-facing store error. Server errors start with `[number]`.
pub(super) fn describe(e: &TdsError) -> StoreError {
    match e {
        TdsError::Server(t) => {
            let code = t.code();
            let hint = match code {
                18456 => "登录失败：检查用户名、密码或 Windows 账户 / login failed: check the user, password or Windows account",
                4060 => "无法打开数据库：检查 database 名称和该登录的权限 / cannot open the database: check its name and the login's rights",
                208 => "缺少 yibao 的表或视图：请先执行 sql/install.sql / yibao's tables or view are missing: run sql/install.sql",
                229 | 230 => "权限不足：见 docs/sqlserver.md 所需权限 / permission denied: see the rights listed in docs/sqlserver.md",
                1205 => "死锁，已回滚，可重试 / deadlock victim, rolled back, may be retried",
                _ => "",
            };
            let text = format!("[{code}] {} {hint}", t.message());
            match code {
                18456 | 4060 | 1205 => StoreError::Unavailable(text),
                _ => StoreError::Db(text),
            }
        }
        TdsError::Tls(m) => StoreError::Unavailable(format!(
            "TLS 握手失败（SQL Server 2008 R2 等旧版本只支持 TLS 1.0/1.1，见 docs/sqlserver.md；自签名证书需 trust_server_certificate）/ TLS handshake failed (old servers speak only TLS 1.0/1.1, see docs/sqlserver.md; a self-signed certificate needs trust_server_certificate): {m}"
        )),
        TdsError::Io { message, .. } => StoreError::Unavailable(format!(
            "无法连接 SQL Server（地址、端口、防火墙、服务是否启动）/ cannot reach SQL Server (address, port, firewall, is the service running?): {message}"
        )),
        other => StoreError::Unavailable(format!("SQL Server: {other}")),
    }
}
