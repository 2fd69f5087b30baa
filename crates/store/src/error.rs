/// Store failures. Messages are meant for HIS staff and operators: 中文 first.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("数据库不可用 / database unavailable: {0}")]
    Unavailable(String),
    #[error("数据库错误 / database error: {0}")]
    Db(String),
    #[error("请求 {0} 已不由本进程处理（租约丢失） / request {0} is no longer held by this worker (lease lost)")]
    LeaseLost(i64),
    #[error("请求 {0} 已过期（expires_at），不再发送 / request {0} expired (expires_at) and will not be sent")]
    Expired(i64),
    #[error("msgid {0} 已被使用（多个代理共用机构编码时请设置 broker.msgid_node） / msgid {0} was already used (set broker.msgid_node when brokers share an institution code)")]
    DuplicateMsgid(String),
    #[error("数据库中的数据无法识别 / unexpected data in the database: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(
                CannotOpen | DatabaseBusy | DatabaseLocked | DiskFull | ReadOnly | SystemIoFailure,
            ) => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Db(e.to_string()),
        }
    }
}
