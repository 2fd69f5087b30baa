use super::*;
use std::io::Write;

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn names_cannot_leave_the_folder() {
    assert_eq!(safe_name("../../etc/passwd"), "passwd");
    assert_eq!(safe_name(r"..\..\Windows\win.ini"), "win.ini");
    assert_eq!(safe_name("C:evil?.txt"), "C_evil_.txt");
    assert_eq!(safe_name(".."), "file");
    assert_eq!(safe_name("目录.txt"), "目录.txt");
}

#[test]
fn a_zip_unpacks_with_utf8_and_gbk_texts_kept_as_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let (gbk, _, _) = encoding_rs::GBK.encode("阿莫西林胶囊\t0.25g*24粒\n");
    let zip = dir.path().join("a.zip");
    std::fs::write(
        &zip,
        zip_of(&[
            ("../../u.txt", "张三\t李四\n".as_bytes()),
            ("g.txt", &gbk),
            ("b.bin", &[0xff, 0xfe, 0x00, 0x81]),
        ]),
    )
    .unwrap();
    let into = dir.path().join("a");
    let entries = unpack(&zip, &into, 1 << 20).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["u.txt", "g.txt", "b.bin"]);
    assert_eq!(
        std::fs::read_to_string(into.join("u.txt")).unwrap(),
        "张三\t李四\n"
    );
    assert_eq!(entries[1].encoding, "GBK");
    assert_eq!(
        std::fs::read_to_string(into.join("g.txt")).unwrap(),
        "阿莫西林胶囊\t0.25g*24粒\n"
    );
    assert_eq!(entries[2].encoding, "binary");
    assert!(!dir.path().join("u.txt").exists());
}

#[test]
fn a_zip_bomb_and_a_damaged_zip_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bomb.zip");
    std::fs::write(&zip, zip_of(&[("big.txt", &vec![b'a'; 100_000])])).unwrap();
    let err = unpack(&zip, &dir.path().join("bomb"), 10_000).unwrap_err();
    assert!(err.contains("max_unpacked_bytes"), "{err}");
    let bad = dir.path().join("bad.zip");
    std::fs::write(&bad, b"PK\x03\x04 not really").unwrap();
    let err = unpack(&bad, &dir.path().join("bad"), 10_000).unwrap_err();
    assert!(err.starts_with("下载的压缩包已损坏"), "{err}");
}

#[tokio::test]
async fn an_upload_is_read_only_from_allowed_folders_and_zipped_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let files = FilesSection {
        dir: dir.path().join("files"),
        ..FilesSection::default()
    };
    std::fs::create_dir_all(&files.dir).unwrap();
    let inside = files.dir.join("明细.txt");
    std::fs::write(&inside, "对账明细").unwrap();
    let outside = dir.path().join("secret.txt");
    std::fs::write(&outside, "x").unwrap();
    let store =
        yibao_store::SqliteStore::open(yibao_store::SqliteOptions::new(dir.path().join("q.db")))
            .unwrap();

    let sent = prepare_upload(
        &store,
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

    let err = prepare_upload(
        &store,
        &files,
        json!({"fsUploadIn": {"file_path": files.dir.join("../secret.txt")}}),
    )
    .await
    .unwrap_err();
    assert!(err.contains("upload_from"), "{err}");
    let err = prepare_upload(&store, &files, json!({"fsUploadIn": {"file_id": 99}}))
        .await
        .unwrap_err();
    assert!(err.contains("no file 99"), "{err}");
    // Already carrying its bytes: sent as given.
    let given = json!({"fsUploadIn": {"in": "QQ==", "filename": "a"}});
    assert_eq!(
        prepare_upload(&store, &files, given.clone()).await.unwrap(),
        given
    );
}
