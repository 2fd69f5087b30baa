//! The HIS's side on a real SQL Server: `sql/install.sql`, the stored procedures and the
//! broker (`kind = "mssql"`) together, with the real simulator and shim.
//!
//! Runs only when `YIBAO_MSSQL_URL` holds an ADO.NET connection string of a scratch database
//! (e.g. `server=tcp:localhost,1433;database=yibao_test;user=sa;password=...;TrustServerCertificate=true`);
//! otherwise each test prints "skipped" and passes, since no SQL Server runs on CI machines.

use std::time::{Duration, Instant};

use yibao::{person_input, settle_input, Env, Options};
use yibao_store::{MssqlAuth, MssqlOptions, MssqlStore};

const INSTALL: &str = include_str!("../sql/install.sql");

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
}

impl Db {
    /// Installs twice (rerunnable), empties the tables, sets poll mode.
    fn installed(url: &str) -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut o = MssqlOptions::new("", MssqlAuth::Windows);
        o.connection_string = Some(url.into());
        o.command_timeout = Duration::from_secs(60);
        let sql = rt.block_on(async {
            let s = MssqlStore::connect_unchecked(o).await.unwrap();
            s.run_script(INSTALL).await.unwrap();
            s.run_script(INSTALL).await.unwrap();
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
        Self { rt, sql }
    }

    /// `EXEC sp_medical_insurance_call`: (return code, request id, result data).
    fn call(&self, code: &str, input: &str, async_: bool) -> (i32, i32, Option<String>) {
        let batch = "DECLARE @id INT, @data NVARCHAR(MAX), @rc INT;\n\
             EXEC @rc = dbo.sp_medical_insurance_call @interface_code = @P1, @input_data = @P2,\n\
               @async = @P3, @result_id = @id OUTPUT, @result_data = @data OUTPUT,\n\
               @timeout_s = 30, @mode = 'poll';\n\
             SELECT @rc, @id, @data;";
        let flag = i32::from(async_);
        let sets = self
            .rt
            .block_on(self.sql.execute(batch, &[&code, &input, &flag]))
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
