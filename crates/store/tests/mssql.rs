//! The SQL Server store against a real SQL Server, when one is named.
//!
//! Set `YIBAO_MSSQL_URL` to an ADO.NET connection string of a scratch database, e.g.
//! `server=tcp:localhost,1433;database=yibao_test;user=sa;password=...;TrustServerCertificate=true`.
//! Without it these tests print "skipped" and pass: no SQL Server can run on the CI machines.

use yibao_proto::RequestStatus;
use yibao_store::conformance;
use yibao_store::{MssqlAuth, MssqlOptions, MssqlStore, Store};

/// install.sql as shipped (with its BOM, which `MssqlStore::run_script` drops).
fn install_sql() -> &'static str {
    include_str!("../../../sql/install.sql")
}

/// The tests share one database: the upgrade test drops the tables the contract test
/// uses, so they take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    raw.run_script(install_sql()).await.unwrap();
    raw.run_script(install_sql()).await.unwrap();
    MssqlStore::open(o.clone()).await.unwrap()
}

async fn empty(s: &MssqlStore) {
    s.run_script(
        "DELETE FROM dbo.medical_insurance_files;\n\
         DELETE FROM dbo.medical_insurance_jobs;\n\
         DELETE FROM dbo.medical_insurance_catalog_rows;\n\
         DELETE FROM dbo.medical_insurance_catalog_versions;\n\
         DELETE FROM dbo.medical_insurance_response_fields;\n\
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
    let _turn = SERIAL.lock().await;
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

/// The original design's tables, with history in them, are upgraded in place. Rows it
/// left PROCESSING become UNCERTAIN if they change state (2207, and 9999 which no catalog
/// knows), as the broker's recovery would decide, and once only; a read-only one (1101)
/// is left to the broker, which requeues it.
#[tokio::test]
async fn install_upgrades_the_original_designs_tables_without_losing_rows() {
    let Some(o) = options() else { return };
    let _turn = SERIAL.lock().await;
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
         INSERT INTO medical_insurance_responses (request_id, response_data, infcode) VALUES (1, N'{\"infcode\":0}', '0');\n\
         INSERT INTO medical_insurance_requests (interface_code, input_data, status) VALUES ('2207', N'{}', 'PROCESSING');\n\
         INSERT INTO medical_insurance_requests (interface_code, input_data, status) VALUES ('1101', N'{}', 'PROCESSING');\n\
         INSERT INTO medical_insurance_requests (interface_code, input_data, status) VALUES ('9999', N'{}', 'PROCESSING');",
    )
    .await
    .unwrap();
    let store = installed(&o).await;
    let status = |id| {
        let store = store.clone();
        async move { store.get(id).await.unwrap().expect("row kept") }
    };
    for id in [2, 4] {
        let row = status(id).await;
        assert_eq!(row.status, RequestStatus::Uncertain, "row {id}");
        assert!(
            row.err_msg.unwrap_or_default().contains("升级"),
            "row {id}: the reason names the upgrade"
        );
    }
    assert_eq!(status(3).await.status, RequestStatus::Processing);
    // A third run changes nothing more.
    let stamp = "SELECT CONVERT(VARCHAR(30), MAX(update_time), 126) \
                 FROM dbo.medical_insurance_requests WHERE request_id IN (2, 4)";
    let read_stamp = || async {
        let sets = store.execute(stamp, &[]).await.unwrap();
        sets[0][0].get::<&str, _>(0).map(str::to_string)
    };
    let before = read_stamp().await;
    assert!(before.is_some());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    store.run_script(install_sql()).await.unwrap();
    assert_eq!(
        before,
        read_stamp().await,
        "rerunning install.sql marked the rows again"
    );
    assert_eq!(status(3).await.status, RequestStatus::Processing);
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
