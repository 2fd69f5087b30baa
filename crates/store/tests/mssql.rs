//! The SQL Server store against a real SQL Server, when one is named.
//!
//! Set `YIBAO_MSSQL_URL` to an ADO.NET connection string of a scratch database, e.g.
//! `server=tcp:localhost,1433;database=yibao_test;user=sa;password=...;TrustServerCertificate=true`.
//! Without it these tests print "skipped" and pass: no SQL Server can run on the CI machines.

use yibao_store::conformance;
use yibao_store::{MssqlAuth, MssqlOptions, MssqlStore, Store};

const INSTALL: &str = include_str!("../../../sql/install.sql");

fn options() -> Option<MssqlOptions> {
    let url = std::env::var("YIBAO_MSSQL_URL")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let Some(url) = url else {
        println!(
            "skipped: set YIBAO_MSSQL_URL (an ADO.NET connection string) to run the SQL Server tests"
        );
        return None;
    };
    let mut o = MssqlOptions::new("", MssqlAuth::Windows);
    o.connection_string = Some(url.into());
    Some(o)
}

async fn installed(o: &MssqlOptions) -> MssqlStore {
    let raw = MssqlStore::connect_unchecked(o.clone()).await.unwrap();
    // Twice: the script must be rerunnable.
    raw.run_script(INSTALL).await.unwrap();
    raw.run_script(INSTALL).await.unwrap();
    MssqlStore::open(o.clone()).await.unwrap()
}

async fn empty(s: &MssqlStore) {
    s.run_script(
        "DELETE FROM dbo.medical_insurance_response_fields;\n\
         DELETE FROM dbo.medical_insurance_attempts;\n\
         DELETE FROM dbo.medical_insurance_responses;\n\
         DELETE FROM dbo.medical_insurance_requests;",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_contract_holds_on_sql_server() {
    let Some(o) = options() else { return };
    let store = installed(&o).await;
    conformance::all(
        || {
            let (store, o) = (store.clone(), o.clone());
            async move {
                empty(&store).await;
                let other = MssqlStore::open(o).await.unwrap();
                (store, other)
            }
        },
        |s: MssqlStore, sql| async move {
            s.execute(sql, &[]).await.unwrap();
        },
    )
    .await;
}

/// The original design's tables, with history in them, are upgraded in place.
#[tokio::test]
async fn install_upgrades_the_original_designs_tables_without_losing_rows() {
    let Some(o) = options() else { return };
    let raw = MssqlStore::connect_unchecked(o.clone()).await.unwrap();
    raw.run_script(
        "IF OBJECT_ID('dbo.v_medical_insurance_result', 'V') IS NOT NULL DROP VIEW dbo.v_medical_insurance_result;\n\
         IF OBJECT_ID('dbo.medical_insurance_attempts', 'U') IS NOT NULL DROP TABLE dbo.medical_insurance_attempts;\n\
         IF OBJECT_ID('dbo.medical_insurance_responses', 'U') IS NOT NULL DROP TABLE dbo.medical_insurance_responses;\n\
         IF OBJECT_ID('dbo.medical_insurance_requests', 'U') IS NOT NULL DROP TABLE dbo.medical_insurance_requests;\n\
         IF OBJECT_ID('dbo.medical_insurance_settings', 'U') IS NOT NULL DROP TABLE dbo.medical_insurance_settings;\n\
         GO\n\
         CREATE TABLE medical_insurance_requests (request_id INT IDENTITY(1,1) PRIMARY KEY, interface_code VARCHAR(10) NOT NULL, input_data NVARCHAR(MAX) NOT NULL, status VARCHAR(20) NOT NULL DEFAULT 'PENDING', create_time DATETIME NOT NULL DEFAULT GETDATE(), update_time DATETIME, retry_count INT DEFAULT 0);\n\
         CREATE TABLE medical_insurance_responses (response_id INT IDENTITY(1,1) PRIMARY KEY, request_id INT NOT NULL, response_data NVARCHAR(MAX) NOT NULL, infcode VARCHAR(10), err_msg NVARCHAR(500), create_time DATETIME NOT NULL DEFAULT GETDATE());\n\
         GO\n\
         INSERT INTO medical_insurance_requests (interface_code, input_data, status) VALUES ('1101', N'{\"a\":\"旧\"}', 'COMPLETED');\n\
         INSERT INTO medical_insurance_responses (request_id, response_data, infcode) VALUES (1, N'{\"infcode\":0}', '0');",
    )
    .await
    .unwrap();
    let store = installed(&o).await;
    let old = store
        .get(1)
        .await
        .unwrap()
        .expect("the old row is still there");
    assert_eq!(old.input_data, "{\"a\":\"旧\"}");
    assert_eq!(old.infcode.as_deref(), Some("0"));
    // And the upgraded tables work for new requests.
    empty(&store).await;
    conformance::lifecycle_through_the_view(&store).await;
}
