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
fn names_cannot_leave_the_folder_nor_name_a_device() {
    assert_eq!(safe_name("../../etc/passwd"), "passwd");
    assert_eq!(safe_name(r"..\..\Windows\win.ini"), "win.ini");
    assert_eq!(safe_name("C:evil?.txt"), "C_evil_.txt");
    assert_eq!(safe_name(".."), "file");
    assert_eq!(safe_name(" "), "file");
    assert_eq!(safe_name("a.txt. "), "a.txt");
    assert_eq!(safe_name("NUL.txt"), "_NUL.txt");
    assert_eq!(safe_name("com1"), "_com1");
    assert_eq!(safe_name("CONOUT$"), "_CONOUT$");
    assert_eq!(safe_name("console.txt"), "console.txt");
    assert_eq!(safe_name("目录.txt"), "目录.txt");
}

#[test]
fn two_entries_on_one_name_both_survive() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("d.zip");
    std::fs::write(
        &zip,
        zip_of(&[
            ("a/plc.txt", b"one"),
            ("b/PLC.txt", b"two"),
            ("x/.", b"3"),
            ("y/..", b"4"),
        ]),
    )
    .unwrap();
    let into = dir.path().join("d");
    let entries = unpack(&zip, &into, 1 << 20, 100).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["plc.txt", "PLC (2).txt", "file", "file (2)"]);
    assert_eq!(std::fs::read(into.join("plc.txt")).unwrap(), b"one");
    assert_eq!(std::fs::read(into.join("PLC (2).txt")).unwrap(), b"two");
}

#[test]
fn too_many_entries_are_refused_before_unpacking() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("many.zip");
    let names: Vec<String> = (0..20).map(|i| format!("{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    std::fs::write(&zip, zip_of(&entries)).unwrap();
    let err = unpack(&zip, &dir.path().join("many"), 1 << 20, 10).unwrap_err();
    assert!(err.contains("max_entries"), "{err}");
    assert!(!dir.path().join("many").exists());
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
    let entries = unpack(&zip, &into, 1 << 20, 100).unwrap();
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
    let err = unpack(&zip, &dir.path().join("bomb"), 10_000, 100).unwrap_err();
    assert!(err.contains("max_unpacked_bytes"), "{err}");
    let bad = dir.path().join("bad.zip");
    std::fs::write(&bad, b"PK\x03\x04 not really").unwrap();
    let err = unpack(&bad, &dir.path().join("bad"), 10_000, 100).unwrap_err();
    assert!(err.starts_with("下载的压缩包已损坏"), "{err}");
}

#[test]
fn only_stale_partial_downloads_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let files = FilesSection {
        dir: dir.path().to_path_buf(),
        download_timeout_ms: 60_000,
        ..FilesSection::default()
    };
    let req = dir.path().join("42");
    std::fs::create_dir_all(&req).unwrap();
    let write = |name: &str| {
        let p = req.join(name);
        std::fs::write(&p, b"PK").unwrap();
        p
    };
    let (stale, fresh, kept) = (write("a.download"), write("b.download"), write("c.zip"));
    let now = std::time::SystemTime::now() + Duration::from_secs(121);
    std::fs::File::options()
        .write(true)
        .open(&fresh)
        .unwrap()
        .set_modified(now - Duration::from_secs(60))
        .unwrap();
    assert_eq!(sweep_stale_downloads(&files, now), 1);
    assert!(!stale.exists());
    assert!(fresh.exists(), "a download that may still be running stays");
    assert!(kept.exists(), "a finished download stays");
    let missing = FilesSection {
        dir: dir.path().join("none"),
        ..FilesSection::default()
    };
    assert_eq!(sweep_stale_downloads(&missing, now), 0);
}
