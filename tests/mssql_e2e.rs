//! The HIS's side on a real SQL Server: `sql/install.sql`, the stored procedures and the
//! broker (`kind = "mssql"`) together, with the real simulator and shim.
//!
//! Runs only when `YIBAO_MSSQL_URL` holds an ADO.NET connection string of a scratch database
//! (e.g. `server=tcp:localhost,1433;database=yibao_test;user=sa;password=...;TrustServerCertificate=true`);
//! otherwise each test prints "skipped" and passes, since no SQL Server runs on CI machines.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use yibao::{person_input, settle_input, Env, Options};
use yibao_store::{MssqlAuth, MssqlOptions, MssqlStore, CANCELLED_REASON};

/// install.sql as shipped (with its BOM, which `MssqlStore::run_script` drops).
fn install_sql() -> &'static str {
    include_str!("../sql/install.sql")
}

/// The tests share one database and empty its tables: they take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn url() -> Option<String> {
    let url = std::env::var("YIBAO_MSSQL_URL")
        .ok()
        .filter(|s| !s.trim().is_empty());
    if url.is_none() {
        println!("skipped: set YIBAO_MSSQL_URL (an ADO.NET connection string) to run the SQL Server e2e tests");
    }
    url
}

struct Db {
    rt: tokio::runtime::Runtime,
    sql: MssqlStore,
    _turn: MutexGuard<'static, ()>,
}

impl Db {
    /// Waits for its turn, installs twice (rerunnable), empties the tables, sets poll mode.
    fn installed(url: &str) -> Self {
        let turn = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut o = MssqlOptions::new("", MssqlAuth::Windows);
        o.connection_string = Some(url.into());
        o.command_timeout = Duration::from_secs(60);
        let sql = rt.block_on(async {
            let s = MssqlStore::connect_unchecked(o).await.unwrap();
            s.run_script(install_sql()).await.unwrap();
            s.run_script(install_sql()).await.unwrap();
            s.run_script(
                "DELETE FROM dbo.medical_insurance_response_fields;\n\
                 DELETE FROM dbo.medical_insurance_attempts;\n\
                 DELETE FROM dbo.medical_insurance_responses;\n\
                 DELETE FROM dbo.medical_insurance_requests;\n\
                 UPDATE dbo.medical_insurance_settings SET value = N'poll' WHERE name = 'default_mode';",
            )
            .await
            .unwrap();
            s
        });
        Self {
            rt,
            sql,
            _turn: turn,
        }
    }

    /// `EXEC sp_medical_insurance_call`: (return code, request id, result data).
    fn call(&self, code: &str, input: &str, async_: bool) -> (i32, i32, Option<String>) {
        self.call_with(code, input, async_, ", @timeout_s = 30, @mode = 'poll'")
    }

    /// The same with `more` parameters (", @name = value, …").
    fn call_with(
        &self,
        code: &str,
        input: &str,
        async_: bool,
        more: &str,
    ) -> (i32, i32, Option<String>) {
        let batch = format!(
            "DECLARE @id INT, @data NVARCHAR(MAX), @rc INT;\n\
             EXEC @rc = dbo.sp_medical_insurance_call @interface_code = @P1, @input_data = @P2,\n\
               @async = @P3, @result_id = @id OUTPUT, @result_data = @data OUTPUT{more};\n\
             SELECT @rc, @id, @data;"
        );
        let flag = i32::from(async_);
        let sets = self
            .rt
            .block_on(self.sql.execute(&batch, &[&code, &input, &flag]))
            .unwrap();
        let row = sets.last().and_then(|r| r.first()).expect("one row");
        (
            row.try_get::<i32, _>(0).unwrap().unwrap(),
            row.try_get::<i32, _>(1).unwrap().unwrap(),
            row.try_get::<&str, _>(2).unwrap().map(str::to_string),
        )
    }

    fn scalar_i32(&self, batch: &str) -> i32 {
        let sets = self.rt.block_on(self.sql.execute(batch, &[])).unwrap();
        let row = sets.last().and_then(|r| r.first()).expect("one row");
        row.try_get::<i32, _>(0).unwrap().unwrap_or(0)
    }

    fn scalar_text(&self, batch: &str) -> Option<String> {
        let sets = self.rt.block_on(self.sql.execute(batch, &[])).unwrap();
        let row = sets.last().and_then(|r| r.first()).expect("one row");
        row.try_get::<&str, _>(0).unwrap().map(str::to_string)
    }

    /// Whether `batch` fails (a RAISERROR of severity 16, a refused call).
    fn fails(&self, batch: &str) -> bool {
        self.rt.block_on(self.sql.execute(batch, &[])).is_err()
    }

    /// `EXEC sp_medical_insurance_cancel`: (return code, @status).
    fn cancel(&self, id: i32) -> (i32, Option<String>) {
        let batch = format!(
            "DECLARE @rc INT, @s VARCHAR(20);\n\
             EXEC @rc = dbo.sp_medical_insurance_cancel @request_id = {id}, @status = @s OUTPUT;\n\
             SELECT @rc, @s;"
        );
        let sets = self.rt.block_on(self.sql.execute(&batch, &[])).unwrap();
        let row = sets.last().and_then(|r| r.first()).expect("one row");
        (
            row.try_get::<i32, _>(0).unwrap().unwrap(),
            row.try_get::<&str, _>(1).unwrap().map(str::to_string),
        )
    }

    fn wait_all_terminal(&self, deadline: Duration) {
        let end = Instant::now() + deadline;
        loop {
            let open = self.scalar_i32(
                "SELECT COUNT(*) FROM dbo.medical_insurance_requests WHERE status IN ('PENDING', 'PROCESSING')",
            );
            if open == 0 {
                return;
            }
            assert!(Instant::now() < end, "{open} requests still open");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn env_on(url: &str) -> Env {
    Env::start_with(Options {
        mssql: Some(url.to_string()),
        // Short leases so rows held by a killed broker come back within the test.
        request_timeout_ms: 5_000,
        lease_ms: 10_000,
        recover_interval_ms: 500,
        ..Options::default()
    })
}

#[test]
fn sync_and_async_calls_through_the_stored_procedure() {
    let Some(url) = url() else { return };
    let db = Db::installed(&url);
    let _env = env_on(&url);

    let (rc, id, data) = db.call("1101", &person_input(1), false);
    assert_eq!(rc, 0, "sync 1101 through sp_medical_insurance_call");
    assert!(id > 0);
    assert!(data.unwrap_or_default().contains("baseinfo"));

    let (rc, id, data) = db.call("2207", &settle_input(1), true);
    assert_eq!(rc, 0);
    assert!(data.is_none(), "async returns at once");
    let rc = db.scalar_i32(&format!(
        "DECLARE @rc INT; EXEC @rc = dbo.sp_medical_insurance_wait @request_id = {id}, @timeout_s = 30; SELECT @rc;"
    ));
    assert_eq!(rc, 0, "the async 2207 completed");

    // The settlement's amounts, read without JSON: the procedure and the function agree
    // with the stored reply.
    let rc = db.scalar_i32(&format!(
        "DECLARE @rc INT; EXEC @rc = dbo.sp_medical_insurance_fields @request_id = {id}; SELECT @rc;"
    ));
    assert_eq!(rc, 0, "sp_medical_insurance_fields found rows");
    let cents = db.scalar_i32(&format!(
        "SELECT CAST(CAST(dbo.fn_medical_insurance_field({id}, N'setlinfo.medfee_sumamt', 0) AS DECIMAL(16, 2)) * 100 AS INT);"
    ));
    assert_eq!(cents, 10_000, "medfee_sumamt of settle_input is 100.00");
    let same = db.scalar_i32(&format!(
        "SELECT CASE WHEN dbo.fn_medical_insurance_field({id}, N'setlinfo.setl_id', 0) IS NOT NULL \
         AND CHARINDEX(dbo.fn_medical_insurance_field({id}, N'setlinfo.setl_id', 0), r.response_data) > 0 \
         THEN 1 ELSE 0 END FROM dbo.medical_insurance_responses r WHERE r.request_id = {id};"
    ));
    assert_eq!(
        same, 1,
        "setl_id in the fields table is the one in the JSON"
    );

    // A sync call inside an open transaction is refused, not left to time out.
    let refused = db.rt.block_on(db.sql.execute(
        "BEGIN TRANSACTION; DECLARE @id INT, @d NVARCHAR(MAX);\n\
         EXEC dbo.sp_medical_insurance_call '1101', N'{}', 0, @id OUTPUT, @d OUTPUT;\n\
         ROLLBACK;",
        &[],
    ));
    assert!(refused.is_err());
}

#[test]
fn two_brokers_share_the_table_and_recover_after_a_kill() {
    let Some(url) = url() else { return };
    let db = Db::installed(&url);
    let mut env = env_on(&url);
    env.start_another_broker();
    for i in 0..200 {
        let (rc, _, _) = db.call("1101", &person_input(1000 + i), true);
        assert_eq!(rc, 0);
    }
    std::thread::sleep(Duration::from_millis(300));
    env.kill_broker_hard();
    env.start_broker();
    db.wait_all_terminal(Duration::from_secs(120));
    let distinct =
        db.scalar_i32("SELECT COUNT(DISTINCT msgid) FROM dbo.medical_insurance_attempts");
    let attempts = db.scalar_i32("SELECT COUNT(*) FROM dbo.medical_insurance_attempts");
    assert_eq!(distinct, attempts, "every attempt had its own msgid");
    let completed = db.scalar_i32(
        "SELECT COUNT(*) FROM dbo.medical_insurance_requests WHERE interface_code = '1101' AND status = 'COMPLETED'",
    );
    assert_eq!(completed, 200);
}

/// `sp_medical_insurance_call` with `SET IMPLICIT_TRANSACTIONS` as given, in one batch
/// (which the driver runs through sp_executesql, so the SET ends with it): (return code,
/// request id, @@TRANCOUNT after the call, the setting after the call, result data).
/// Whatever the call left open is rolled back before the batch ends.
fn call_under(
    db: &Db,
    implicit: bool,
    async_: bool,
    more: &str,
    end: &str,
) -> (i32, i32, i32, i32, Option<String>) {
    let setting = if implicit { "ON" } else { "OFF" };
    let batch = format!(
        "SET IMPLICIT_TRANSACTIONS {setting};\n\
         DECLARE @id INT, @data NVARCHAR(MAX), @rc INT, @tc INT, @implicit INT;\n\
         EXEC @rc = dbo.sp_medical_insurance_call @interface_code = '1101', @input_data = @P1,\n\
           @async = @P2, @result_id = @id OUTPUT, @result_data = @data OUTPUT{more};\n\
         SET @tc = @@TRANCOUNT;\n\
         SET @implicit = @@OPTIONS & 2;\n\
         {end}\n\
         IF @@TRANCOUNT > 0 ROLLBACK;\n\
         SET IMPLICIT_TRANSACTIONS OFF;\n\
         SELECT @rc, @id, @tc, @implicit, @data;"
    );
    let input = person_input(7);
    let flag = i32::from(async_);
    let sets = db
        .rt
        .block_on(db.sql.execute(&batch, &[&input.as_str(), &flag]))
        .unwrap();
    let row = sets.last().and_then(|r| r.first()).expect("one row");
    let int = |i| row.try_get::<i32, _>(i).unwrap().unwrap_or(-1);
    (
        int(0),
        int(1),
        int(2),
        int(3),
        row.try_get::<&str, _>(4).unwrap().map(str::to_string),
    )
}

/// Issue: under IMPLICIT_TRANSACTIONS ON the settings SELECT opened a transaction (refused
/// as "open transaction") or the INSERT stayed uncommitted (the broker never saw it, 3
/// after the whole timeout). Now a sync call works with both settings, with mode and
/// timeout given or taken from the settings table, and leaves nothing open.
#[test]
fn sync_calls_work_with_implicit_transactions_on_and_off() {
    let Some(url) = url() else { return };
    let db = Db::installed(&url);
    let _env = env_on(&url);
    for implicit in [false, true] {
        for more in ["", ", @timeout_s = 30, @mode = 'poll'"] {
            let (rc, id, open, setting, data) = call_under(&db, implicit, false, more, "");
            let case = format!("implicit {implicit}, parameters `{more}`");
            assert_eq!(rc, 0, "{case}");
            assert!(id > 0, "{case}");
            assert_eq!(open, 0, "{case}: the call left a transaction open");
            assert_eq!(
                setting,
                if implicit { 2 } else { 0 },
                "{case}: setting kept"
            );
            assert!(data.unwrap_or_default().contains("baseinfo"), "{case}");
        }
    }
    // A transaction an earlier statement opened implicitly is still refused.
    assert!(db.fails(
        "SET IMPLICIT_TRANSACTIONS ON;\n\
         DECLARE @n INT; SELECT @n = COUNT(*) FROM dbo.medical_insurance_settings;\n\
         DECLARE @id INT, @d NVARCHAR(MAX);\n\
         EXEC dbo.sp_medical_insurance_call '1101', N'{}', 0, @id OUTPUT, @d OUTPUT;"
    ));
}

/// An async call's row belongs to the caller's transaction, the one IMPLICIT_TRANSACTIONS
/// opens included: rolled back, it never existed (never sent); committed, it completes.
#[test]
fn async_calls_commit_or_roll_back_with_the_callers_implicit_transaction() {
    let Some(url) = url() else { return };
    let db = Db::installed(&url);
    let _env = env_on(&url);
    let (rc, id, open, _, _) = call_under(&db, true, true, "", "");
    assert_eq!(
        (rc, open),
        (0, 1),
        "the insert is in the caller's transaction"
    );
    let left = db.scalar_i32(&format!(
        "SELECT COUNT(*) FROM dbo.medical_insurance_requests WHERE request_id = {id}"
    ));
    assert_eq!(left, 0, "rolled back with the caller's transaction");

    let (rc, id, open, _, _) = call_under(&db, true, true, "", "COMMIT;");
    assert_eq!((rc, open), (0, 1));
    let rc = db.scalar_i32(&format!(
        "DECLARE @rc INT; EXEC @rc = dbo.sp_medical_insurance_wait @request_id = {id}, @timeout_s = 30; SELECT @rc;"
    ));
    assert_eq!(rc, 0, "the committed async call completed");
}

/// No broker runs here: a sync call's wait ends with the row PENDING, and the procedure
/// cancels it (the broker's cancel text) before returning 3, so a retry can never make a
/// second one. Its deadline was written: the wait plus 5 s.
#[test]
fn a_sync_call_nobody_picked_up_is_cancelled_and_had_a_deadline() {
    let Some(url) = url() else { return };
    let db = Db::installed(&url);
    let started = Instant::now();
    let (rc, id, data) = db.call_with("2207", &settle_input(2), false, ", @timeout_s = 1");
    assert_eq!(rc, 3, "not picked up");
    assert!(data.is_none());
    assert!(started.elapsed() < Duration::from_secs(10));
    let row = |what: &str| {
        db.scalar_text(&format!(
            "SELECT CONVERT(NVARCHAR(2000), {what}) FROM dbo.v_medical_insurance_result v \
             JOIN dbo.medical_insurance_requests r ON r.request_id = v.request_id \
             WHERE v.request_id = {id}"
        ))
    };
    assert_eq!(row("v.status").as_deref(), Some("ERROR"));
    assert_eq!(row("v.err_msg").as_deref(), Some(CANCELLED_REASON));
    let deadline = db.scalar_i32(&format!(
        "SELECT DATEDIFF(SECOND, create_time, expires_at) FROM dbo.medical_insurance_requests WHERE request_id = {id}"
    ));
    assert!(
        (5..=7).contains(&deadline),
        "expires_at is create_time + {deadline} s"
    );
    assert_eq!(db.cancel(id), (6, Some("ERROR".into())), "already ended");
}

/// `sp_medical_insurance_cancel` answers like `yibao-call cancel`: 0 for a PENDING row
/// (then ERROR, never sent), 6 with the current state otherwise — a row a broker holds is
/// left alone. Async deadlines come from `@expires_s`, and only async calls take it.
#[test]
fn cancel_and_async_deadlines_through_the_procedures() {
    let Some(url) = url() else { return };
    let db = Db::installed(&url);
    let (rc, id, _) = db.call_with("2207", &settle_input(3), true, ", @expires_s = 120");
    assert_eq!(rc, 0);
    let deadline = db.scalar_i32(&format!(
        "SELECT DATEDIFF(SECOND, create_time, expires_at) FROM dbo.medical_insurance_requests WHERE request_id = {id}"
    ));
    assert!(
        (119..=121).contains(&deadline),
        "expires_at is create_time + {deadline} s"
    );
    assert_eq!(db.cancel(id), (0, Some("ERROR".into())));
    let err = db.scalar_text(&format!(
        "SELECT err_msg FROM dbo.v_medical_insurance_result WHERE request_id = {id}"
    ));
    assert_eq!(err.as_deref(), Some(CANCELLED_REASON));
    assert_eq!(db.cancel(id), (6, Some("ERROR".into())), "only once");

    let (_, held, _) = db.call("2207", &settle_input(4), true);
    let no_deadline = db.scalar_i32(&format!(
        "SELECT COUNT(*) FROM dbo.medical_insurance_requests WHERE request_id = {held} AND expires_at IS NULL"
    ));
    assert_eq!(no_deadline, 1, "no @expires_s, no deadline");
    db.scalar_i32(&format!(
        "UPDATE dbo.medical_insurance_requests SET status = 'PROCESSING' WHERE request_id = {held}; SELECT 1;"
    ));
    assert_eq!(db.cancel(held), (6, Some("PROCESSING".into())));
    let status = db.scalar_text(&format!(
        "SELECT status FROM dbo.medical_insurance_requests WHERE request_id = {held}"
    ));
    assert_eq!(
        status.as_deref(),
        Some("PROCESSING"),
        "a held row is left alone"
    );
    db.scalar_i32(&format!(
        "UPDATE dbo.medical_insurance_requests SET status = 'ERROR' WHERE request_id = {held}; SELECT 1;"
    ));

    assert_eq!(db.cancel(i32::MAX), (6, None), "no such request");
    assert!(db.fails(
        "DECLARE @id INT, @d NVARCHAR(MAX);\n\
         EXEC dbo.sp_medical_insurance_call '1101', N'{}', 0, @id OUTPUT, @d OUTPUT, @expires_s = 60;"
    ));
    assert!(db.fails("EXEC dbo.sp_medical_insurance_cancel @request_id = NULL;"));
}
