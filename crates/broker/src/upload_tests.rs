use super::*;
use serde_json::json;
use std::sync::Arc;

fn queue(dir: &Path) -> Queue {
    let store =
        yibao_store::SqliteStore::open(yibao_store::SqliteOptions::new(dir.join("q.db"))).unwrap();
    Queue::new(
        Arc::new(store),
        Arc::new(crate::metrics::Metrics::new(
            std::time::Duration::from_secs(60),
        )),
        "test".into(),
        std::time::Duration::from_secs(30),
    )
}

/// `[files]` with its folder in `dir`.
fn files_in(dir: &Path) -> FilesSection {
    FilesSection {
        dir: dir.join("files"),
        ..FilesSection::default()
    }
}

fn refused(r: Result<Value, NotSent>) -> String {
    match r {
        Err(NotSent::Refused(why)) => why,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_upload_is_read_only_from_allowed_folders_and_zipped_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let files = files_in(dir.path());
    std::fs::create_dir_all(&files.dir).unwrap();
    let inside = files.dir.join("明细.txt");
    std::fs::write(&inside, "对账明细").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "x").unwrap();
    let q = queue(dir.path());

    let sent = prepare(
        &q,
        &files,
        json!({"fsUploadIn": {"file_path": inside, "zip": true, "fixmedins_code": "H1"}}),
    )
    .await
    .unwrap();
    let up = &sent["fsUploadIn"];
    assert_eq!(up["filename"], "明细.txt.zip");
    assert!(up.get("file_path").is_none() && up.get("zip").is_none());
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(up["in"].as_str().unwrap())
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    archive
        .by_name("明细.txt")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "对账明细");

    // Outside the allowed folders (through ..), relative, a folder, a null path: refused.
    for bad in [
        json!(files.dir.join("../secret.txt")),
        json!("files/明细.txt"),
        json!(files.dir),
    ] {
        let why = refused(prepare(&q, &files, json!({"fsUploadIn": {"file_path": bad}})).await);
        assert!(
            why.contains("upload_from") || why.contains("absolute") || why.contains("regular"),
            "{bad}: {why}"
        );
        assert!(
            !why.contains("明细"),
            "the path stays out of the reason: {why}"
        );
    }
    let why = refused(prepare(&q, &files, json!({"fsUploadIn": {"file_path": null}})).await);
    assert!(why.contains("must be text"), "{why}");
    let why = refused(prepare(&q, &files, json!({"fsUploadIn": {"file_id": 99}})).await);
    assert!(why.contains("no file 99"), "{why}");
    // Already carrying its bytes: sent as given.
    let given = json!({"fsUploadIn": {"in": "QQ==", "filename": "a"}});
    assert_eq!(prepare(&q, &files, given.clone()).await.unwrap(), given);
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_out_of_the_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = files_in(dir.path());
    std::fs::create_dir_all(&files.dir).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "x").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), files.dir.join("link.txt")).unwrap();
    let q = queue(dir.path());
    let why = refused(
        prepare(
            &q,
            &files,
            json!({"fsUploadIn": {"file_path": files.dir.join("link.txt")}}),
        )
        .await,
    );
    assert!(why.contains("upload_from"), "{why}");
}

#[tokio::test]
async fn stored_bytes_are_sent_and_oversized_ones_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let files = FilesSection {
        max_upload_bytes: 1024,
        ..files_in(dir.path())
    };
    let q = queue(dir.path());
    let db = rusqlite::Connection::open(dir.path().join("q.db")).unwrap();
    db.execute(
        "INSERT INTO medical_insurance_files (file_id, filename, content) VALUES (1, '对账.txt', X'41420A')",
        [],
    )
    .unwrap();
    db.execute(
        "INSERT INTO medical_insurance_files (file_id, filename, content) VALUES (2, 'big', zeroblob(4096))",
        [],
    )
    .unwrap();
    let sent = prepare(&q, &files, json!({"fsUploadIn": {"file_id": "1"}}))
        .await
        .unwrap();
    assert_eq!(sent["fsUploadIn"]["filename"], "对账.txt");
    assert_eq!(sent["fsUploadIn"]["in"], "QUIK");
    let why = refused(prepare(&q, &files, json!({"fsUploadIn": {"file_id": 2}})).await);
    assert!(why.contains("max_upload_bytes"), "{why}");
}
