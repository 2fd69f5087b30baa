//! The file interfaces over real HTTP: 9101 keeps what was uploaded, 9102 hands back raw
//! bytes (never an envelope, never sealed), the catalog downloads (1301…) are zipped,
//! versioned and incremental, and a reset fault cuts a download in the middle.

use std::io::Read;
use std::sync::Arc;

use serde_json::{json, Value};
use yibao_core::profile::PlainProfile;
use yibao_mock::{CatalogInfo, FileInfo, MockConfig};

mod common;
use common::{mock, His, FIXMEDINS};

impl His {
    async fn files(&self) -> Vec<FileInfo> {
        serde_json::from_slice(&self.control("/__mock/files").await).unwrap()
    }

    async fn catalog(&self, infno: &str) -> CatalogInfo {
        let all: Vec<CatalogInfo> =
            serde_json::from_slice(&self.control("/__mock/catalog").await).unwrap();
        all.into_iter().find(|c| c.infno == infno).unwrap()
    }

    /// A catalog download from `ver` on: the text inside the archive.
    async fn catalog_rows(&self, infno: &str, ver: &str) -> String {
        let r = self.call(infno, json!({"data": {"ver": ver}})).await;
        assert_eq!(r["infcode"], 0, "{r}");
        let out = &r["output"];
        assert_eq!(out["filename"], "plc");
        let no = out["file_qury_no"].as_str().unwrap();
        assert!(out["dld_endtime"].as_str().unwrap().len() == 19, "{r}");
        let zipped = self.download(no).await;
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zipped)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), format!("{no}.txt"));
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        text
    }
}

fn upload_input(content: Value, filename: &str) -> Value {
    json!({"fsUploadIn": {"in": content, "filename": filename, "fixmedins_code": FIXMEDINS}})
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn an_upload_comes_back_byte_for_byte() {
    use base64::Engine;
    let m = mock(MockConfig::default()).await;
    let his = His::new(&m, Arc::new(PlainProfile)).await;
    let file: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&file);
    let r = his
        .call("9101", upload_input(json!(b64), "明细20261124.zip"))
        .await;
    assert_eq!(r["infcode"], 0, "{r}");
    let out = &r["output"];
    let no = out["file_qury_no"].as_str().unwrap().to_string();
    assert!(!no.is_empty() && no.len() <= 30, "{no}");
    assert_eq!(out["filename"], "明细20261124.zip");
    let end = out["dld_endtime"].as_str().unwrap();
    assert!(yibao_core::time::parse_datetime(end).unwrap() > yibao_core::time::now());

    assert_eq!(his.download(&no).await, file);
    assert_eq!(his.control(&format!("/__mock/files/{no}")).await, file);
    let listed = his.files().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].file_qury_no, no);
    assert_eq!(listed[0].size, file.len());
    assert_eq!(listed[0].sha256, sha256_hex(&file));
    assert_eq!(listed[0].infno, "9101");

    // A Java byte[] arrives as signed values.
    let java: Vec<i16> = [0u8, 1, 127, 128, 200, 255]
        .iter()
        .map(|&b| b as i8 as i16)
        .collect();
    let r = his.call("9101", upload_input(json!(java), "a.bin")).await;
    assert_eq!(r["infcode"], 0, "{r}");
    let no2 = r["output"]["file_qury_no"].as_str().unwrap();
    assert_ne!(no2, no);
    assert_eq!(his.download(no2).await, [0u8, 1, 127, 128, 200, 255]);

    // The applied-log records both uploads, with the file's digest instead of its bytes.
    let uploads: Vec<_> = m
        .applied()
        .into_iter()
        .filter(|a| a.infno == "9101")
        .collect();
    assert_eq!(uploads.len(), 2);
    assert!(uploads[0].input.contains(&sha256_hex(&file)), "{uploads:?}");
    assert!(!uploads[0].input.contains(&b64[..100]));
}

#[tokio::test]
async fn a_bad_upload_or_an_unknown_file_is_an_error_envelope() {
    let m = mock(MockConfig::default()).await;
    let his = His::new(&m, Arc::new(PlainProfile)).await;
    for content in [json!(null), json!("%%%"), json!([1, 300]), json!("")] {
        let r = his
            .call("9101", upload_input(content.clone(), "x.zip"))
            .await;
        assert_eq!(r["infcode"], -1, "{content}: {r}");
        let msg = r["err_msg"].as_str().unwrap();
        assert!(msg.contains("fsUploadIn.in"), "{msg}");
        assert!(yibao_core::wording::defect(msg).is_none(), "{msg}");
    }
    let r = his
        .call(
            "9101",
            json!({"fsUploadIn": {"in": "aGk=", "filename": "x.zip", "fixmedins_code": "H99"}}),
        )
        .await;
    assert_eq!(r["infcode"], -1, "{r}");
    assert!(his.files().await.is_empty());

    let reply = his.fetch("F00000000000000000000").await;
    assert_eq!(reply.status(), 200);
    let r: Value = serde_json::from_slice(&reply.bytes().await.unwrap()).unwrap();
    assert_eq!(r["infcode"], -1, "{r}");
    assert!(
        r["err_msg"].as_str().unwrap().contains("不存在或已过期"),
        "{r}"
    );
    assert!(m.applied().iter().all(|a| a.infno == "9001"));
}

#[tokio::test]
async fn the_drug_catalog_is_zipped_versioned_and_incremental() {
    let m = mock(MockConfig::default()).await;
    let his = His::new(&m, Arc::new(PlainProfile)).await;
    let info = his.catalog("1301").await;
    assert_eq!(info.rows, 12_000);
    assert_eq!(info.columns.first().unwrap(), "med_list_codg");
    assert_eq!(info.columns.last().unwrap(), "ver_name");
    let versions: Vec<&str> = info.versions.iter().map(|v| v.ver_name.as_str()).collect();
    assert!(versions.len() >= 2 && versions.windows(2).all(|w| w[0] < w[1]));

    let started = std::time::Instant::now();
    let all = his.catalog_rows("1301", "0").await;
    eprintln!("1301, 12,000 rows: {:?}", started.elapsed());
    let lines: Vec<&str> = all.split('\n').collect();
    assert_eq!(lines.last(), Some(&""), "every row ends with \\n");
    let rows = &lines[..lines.len() - 1];
    assert_eq!(rows.len(), 12_000);
    assert!(!all.contains('\r'));
    let first: Vec<&str> = rows[0].split('\t').collect();
    assert_eq!(first.len(), info.columns.len());
    assert_eq!(first[0], "XJ01CAAA000000000000001");
    assert_eq!(first[1], "阿莫西林胶囊（测试 1）");
    assert_eq!(first[13], "0.25g*24粒");
    assert_eq!(first[18], "湘江制药有限公司");
    for row in rows {
        let ver = row.rsplit('\t').next().unwrap();
        assert!(versions.contains(&ver), "{row}");
        assert_eq!(row.split('\t').count(), info.columns.len(), "{row}");
    }

    // The incremental run after the second-to-last version: only the newest version's rows.
    let newest = info.versions.last().unwrap();
    let since = versions[versions.len() - 2];
    let newer = his.catalog_rows("1301", since).await;
    assert_eq!(newer.lines().count(), newest.rows);
    assert!(newest.rows > 0 && newest.rows < 12_000);
    assert!(newer.lines().all(|l| l.ends_with(&newest.ver_name)));
    assert!(his.catalog_rows("1301", &newest.ver_name).await.is_empty());

    // A catalog update: one newer version of new rows, the old ones untouched.
    let r = his
        .control_post("/__mock/catalog", json!({"infno": "1301", "add_rows": 300}))
        .await;
    assert_eq!(r.status(), 200);
    let updated: CatalogInfo = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(updated.rows, 12_300);
    let latest = updated.versions.last().unwrap();
    let update = his.catalog_rows("1301", &newest.ver_name).await;
    assert_eq!(update.lines().count(), 300);
    assert!(update.lines().all(|l| l.ends_with(&latest.ver_name)));
    assert!(update.starts_with("X") && update.contains("（测试 12001）"));
    // `ver` is required by the catalog (the platform's "Y"): "0" asks for everything.
    assert_eq!(his.catalog_rows("1301", "0").await.lines().count(), 12_300);

    let r = his
        .control_post("/__mock/catalog", json!({"infno": "1312", "rows": 5}))
        .await;
    assert_eq!(r.status(), 400);
    let applied: Vec<_> = m.applied().into_iter().map(|a| a.infno).collect();
    assert_eq!(applied.iter().filter(|i| *i == "1301").count(), 5);
}

#[tokio::test]
async fn every_catalog_download_serves_its_rows() {
    let m = mock(MockConfig::default()).await;
    let his = His::new(&m, Arc::new(PlainProfile)).await;
    for infno in yibao_mock::catalogs::FILE_CATALOGS
        .iter()
        .filter(|i| **i != "1301")
    {
        let text = his.catalog_rows(infno, "0").await;
        assert_eq!(text.lines().count(), 500, "{infno}");
        let first = text.lines().next().unwrap();
        assert!(first.contains("（测试 1）"), "{infno}: {first}");
    }
    // 1312 is a paged query on the platform: a JSON answer, no file. Its input needs the
    // specification's required paging fields (the catalog validates them here too).
    let query = json!({"data": {"updt_time": "2020-01-01", "page_num": 1, "page_size": 10}});
    let r = his.call("1312", query).await;
    assert_eq!(r["infcode"], 0, "{r}");
    assert!(r["output"].get("file_qury_no").is_none(), "{r}");
}

#[tokio::test]
async fn a_reset_cuts_a_download_in_the_middle() {
    let m = mock(MockConfig::default()).await;
    let his = His::new(&m, Arc::new(PlainProfile)).await;
    let file: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let r = his
        .call("9101", upload_input(json!(file.clone()), "big.bin"))
        .await;
    let no = r["output"]["file_qury_no"].as_str().unwrap().to_string();

    let fault = json!({"infno": "9102", "kind": "reset", "times": 1});
    assert_eq!(
        his.control_post("/__mock/faults", fault).await.status(),
        204
    );
    let mut reply = his.fetch(&no).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.content_length(), Some(file.len() as u64));
    let mut got = Vec::new();
    let broken = loop {
        match reply.chunk().await {
            Ok(Some(chunk)) => got.extend_from_slice(&chunk),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(broken, "the body must end in an error");
    assert!(
        !got.is_empty() && got.len() < file.len(),
        "{} of {} bytes",
        got.len(),
        file.len()
    );
    assert_eq!(got[..], file[..got.len()]);

    // The fault fired once: the next download is whole.
    assert_eq!(his.download(&no).await, file);
}

#[tokio::test]
async fn faults_apply_to_uploads_and_catalogs() {
    let m = mock(MockConfig::default()).await;
    let his = His::new(&m, Arc::new(PlainProfile)).await;
    for fault in [
        json!({"infno": "9101", "kind": "http500", "times": 1}),
        json!({"infno": "1302", "kind": "garbage", "times": 1}),
    ] {
        assert_eq!(
            his.control_post("/__mock/faults", fault).await.status(),
            204
        );
    }
    let r = his.post("9101", upload_input(json!("aGk="), "a.txt")).await;
    assert_eq!(r.status(), 500);
    assert!(his.files().await.is_empty(), "http500 applies nothing");
    let r = his.post("1302", json!({"data": {"ver": "0"}})).await;
    let body = r.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    assert_eq!(his.files().await.len(), 1, "garbage: applied, answer lost");

    // bad_signature on a download damages the bytes (no signature to damage).
    let r = his
        .call("9101", upload_input(json!("aGVsbG8="), "a.txt"))
        .await;
    let no = r["output"]["file_qury_no"].as_str().unwrap();
    let fault = json!({"infno": "9102", "kind": "bad_signature", "times": 1});
    his.control_post("/__mock/faults", fault).await;
    let damaged = his.download(no).await;
    assert_eq!(damaged.len(), 5);
    assert_ne!(damaged, b"hello");
    assert_eq!(his.download(no).await, b"hello");
}

/// Under `sm` every envelope is sealed, the error of 9102 too; the file itself comes raw.
#[tokio::test]
async fn under_sm_the_file_comes_raw() {
    use yibao_core::sm::keys::generate;
    use yibao_core::sm::{SmCodec, SmConfig, SmProfile};
    let (inst_sk, inst_pk) = generate().unwrap();
    let (plat_sk, plat_pk) = generate().unwrap();
    let cfg = SmConfig::new("SIMULATORAPPID0001", "s3cret", "", "");
    let m = mock(MockConfig {
        sm: Some(Arc::new(SmCodec::new(&cfg, &plat_sk, &inst_pk).unwrap())),
        ..Default::default()
    })
    .await;
    let profile = SmProfile::new(SmCodec::new(&cfg, &inst_sk, &plat_pk).unwrap());
    let his = His::new(&m, Arc::new(profile)).await;
    let r = his
        .call("9101", upload_input(json!("aGVsbG8="), "a.txt"))
        .await;
    assert_eq!(r["infcode"], 0, "{r}");
    let no = r["output"]["file_qury_no"].as_str().unwrap();
    assert_eq!(his.download(no).await, b"hello");
    let missing = his.fetch("F1").await.bytes().await.unwrap();
    assert_eq!(his.open(missing.to_vec())["infcode"], -1);
}

/// `--catalog-rows` sizes the catalogs of the program.
#[tokio::test]
async fn the_program_takes_catalog_sizes() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_yibao-mock"))
        .args(["--catalog-rows", "1302=7:2,1305=3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("yibao-mock listening on ")
        .unwrap();
    let base = url.split("/fsi/").next().unwrap();
    yibao_core::platform::transport::ensure_tls_provider();
    let body = reqwest::get(format!("{base}/__mock/catalog"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let all: Vec<CatalogInfo> = serde_json::from_slice(&body).unwrap();
    let size = |infno: &str| {
        let c = all.iter().find(|c| c.infno == infno).unwrap();
        (c.rows, c.versions.len())
    };
    assert_eq!(size("1302"), (7, 2));
    assert_eq!(size("1305"), (3, 3));
    assert_eq!(size("1301"), (12_000, 5));

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_yibao-mock"))
        .args(["--catalog-rows", "1301=ten"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("1301=ten"));
}
