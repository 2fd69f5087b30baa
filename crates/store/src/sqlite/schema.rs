//! The SQLite schema: the seed's tables and view plus the columns the lifecycle needs.
//! Idempotent (`IF NOT EXISTS`), so opening an existing file never loses rows.
//!
//! Human-facing times (`create_time`, `update_time`, …) are local-time text written by the
//! database itself, like the seed's `GETDATE()`. Machine times the broker compares
//! (`lease_until`, `next_attempt_at`) are epoch milliseconds.

/// Bumped when the schema changes; stored in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i32 = 4;

/// The SQL expression for "now" in human-facing columns; a macro so that statements can
/// `concat!` it into static text, built at compile time instead of per call.
macro_rules! now {
    () => {
        "strftime('%Y-%m-%d %H:%M:%f','now','localtime')"
    };
}
pub(super) use now;

/// [`now!`] as a constant, for the schema.
pub const NOW: &str = now!();

/// Columns added after schema 1, with their definitions: a file made by an older version
/// gains them in place (SQLite has no `ADD COLUMN IF NOT EXISTS`).
///
/// * `claim_gen`: the claim generation, the fencing token every claim increments;
/// * `expires_at`: local time after which the request must not be sent (NULL: none);
/// * `reversal_id`: the 2601 request started to reverse this one.
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("claim_gen", "INTEGER NOT NULL DEFAULT 0"),
    ("expires_at", "TEXT"),
    ("reversal_id", "INTEGER"),
];

/// Creates the schema, or brings an older file up to date; never loses rows.
pub fn install(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    c.execute_batch(&ddl())?;
    let have: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info('medical_insurance_requests')")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (name, def) in ADDED_COLUMNS {
        if !have.iter().any(|h| h == name) {
            c.execute_batch(&format!(
                "ALTER TABLE medical_insurance_requests ADD COLUMN {name} {def}"
            ))?;
        }
    }
    c.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS ix_mir_reversal ON medical_insurance_requests (reversal_id) \
         WHERE reversal_id IS NOT NULL; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
}

pub fn ddl() -> String {
    format!(
        r#"
CREATE TABLE IF NOT EXISTS medical_insurance_requests (
    request_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    interface_code  TEXT    NOT NULL,
    input_data      TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'PENDING',
    create_time     TEXT    NOT NULL DEFAULT ({NOW}),
    update_time     TEXT,
    retry_count     INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_until     INTEGER,
    worker_id       TEXT,
    msgid           TEXT,
    insuplc_admdvs  TEXT,
    mdtrtarea_admvs TEXT,
    opter           TEXT,
    opter_name      TEXT,
    opter_type      TEXT,
    last_error      TEXT,
    claim_gen       INTEGER NOT NULL DEFAULT 0,
    expires_at      TEXT,
    reversal_id     INTEGER
);
CREATE INDEX IF NOT EXISTS ix_mir_pending
    ON medical_insurance_requests (request_id) WHERE status = 'PENDING';
CREATE INDEX IF NOT EXISTS ix_mir_status
    ON medical_insurance_requests (status);

CREATE TABLE IF NOT EXISTS medical_insurance_responses (
    response_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id    INTEGER NOT NULL UNIQUE REFERENCES medical_insurance_requests (request_id),
    response_data TEXT    NOT NULL,
    infcode       TEXT,
    err_msg       TEXT,
    origin        TEXT    NOT NULL DEFAULT 'PLATFORM',
    create_time   TEXT    NOT NULL DEFAULT ({NOW})
);

CREATE TABLE IF NOT EXISTS medical_insurance_attempts (
    attempt_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  INTEGER NOT NULL REFERENCES medical_insurance_requests (request_id),
    attempt_no  INTEGER NOT NULL,
    infno       TEXT    NOT NULL,
    msgid       TEXT    NOT NULL UNIQUE,
    worker_id   TEXT    NOT NULL,
    start_time  TEXT    NOT NULL DEFAULT ({NOW}),
    end_time    TEXT,
    duration_ms INTEGER,
    outcome     TEXT    NOT NULL DEFAULT 'SENDING'
);
CREATE INDEX IF NOT EXISTS ix_mia_request ON medical_insurance_attempts (request_id);

-- Output values named by the catalog, one row per value (list items by row_index), so SQL
-- reads a settlement's amounts without parsing JSON. WITHOUT ROWID: the primary key is the
-- only B-tree, so each of the dozen rows a reply adds costs one insert, not two; and no
-- foreign key (rows are written in the transaction that finishes their request, which
-- proves it exists), so no lookup per row either. The single writer's throughput is the
-- broker's.
CREATE TABLE IF NOT EXISTS medical_insurance_response_fields (
    request_id INTEGER NOT NULL,
    path       TEXT    NOT NULL,
    row_index  INTEGER NOT NULL DEFAULT 0,
    value      TEXT,
    PRIMARY KEY (request_id, path, row_index)
) WITHOUT ROWID;

-- Files sent (9101) or received (9102). A received file stays on disk (`path`); a file the HIS
-- wants sent may carry its bytes (`content`). Schema 3.
CREATE TABLE IF NOT EXISTS medical_insurance_files (
    file_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   INTEGER,
    direction    TEXT    NOT NULL DEFAULT 'UPLOAD',
    file_qury_no TEXT,
    filename     TEXT    NOT NULL,
    path         TEXT,
    content      BLOB,
    size         INTEGER,
    sha256       TEXT,
    create_time  TEXT    NOT NULL DEFAULT ({NOW})
);
CREATE INDEX IF NOT EXISTS ix_mif_request ON medical_insurance_files (request_id)
    WHERE request_id IS NOT NULL;

-- Batch jobs (catalog downloads, scheduled runs), claimed like requests: a lease and a
-- fencing token. One row per schedule and slot, so a slot never runs twice. Schema 4.
CREATE TABLE IF NOT EXISTS medical_insurance_jobs (
    job_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL,
    params        TEXT    NOT NULL DEFAULT '{{}}',
    schedule_name TEXT,
    slot          TEXT,
    status        TEXT    NOT NULL DEFAULT 'PENDING',
    worker_id     TEXT,
    lease_until   INTEGER,
    claim_gen     INTEGER NOT NULL DEFAULT 0,
    result        TEXT,
    err_msg       TEXT,
    create_time   TEXT    NOT NULL DEFAULT ({NOW}),
    start_time    TEXT,
    end_time      TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_mij_slot ON medical_insurance_jobs (schedule_name, slot)
    WHERE schedule_name IS NOT NULL;
CREATE INDEX IF NOT EXISTS ix_mij_open ON medical_insurance_jobs (job_id)
    WHERE status IN ('PENDING', 'RUNNING');

-- Downloaded catalogs (1301…): one row per line of the file, the line kept as received
-- (tab-separated fields); the version each catalog holds, for the next incremental run.
CREATE TABLE IF NOT EXISTS medical_insurance_catalog_rows (
    row_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    catalog_code TEXT    NOT NULL,
    ver_name     TEXT    NOT NULL,
    row_no       INTEGER NOT NULL,
    item_code    TEXT    NOT NULL,
    fields       TEXT    NOT NULL,
    job_id       INTEGER,
    create_time  TEXT    NOT NULL DEFAULT ({NOW})
);
CREATE INDEX IF NOT EXISTS ix_micr_item ON medical_insurance_catalog_rows (catalog_code, item_code);

CREATE TABLE IF NOT EXISTS medical_insurance_catalog_versions (
    catalog_code TEXT    PRIMARY KEY,
    ver_name     TEXT    NOT NULL,
    row_count    INTEGER NOT NULL DEFAULT 0,
    job_id       INTEGER,
    update_time  TEXT    NOT NULL DEFAULT ({NOW})
);

-- What a reconciliation found, per settlement (3202's result, and our UNCERTAIN requests
-- next to the platform's view).
CREATE TABLE IF NOT EXISTS medical_insurance_reconcile_diffs (
    diff_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id         INTEGER NOT NULL,
    stmt_date      TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    setl_id        TEXT,
    mdtrt_id       TEXT,
    psn_no         TEXT,
    refd_setl_flag TEXT,
    memo           TEXT,
    request_id     INTEGER,
    create_time    TEXT    NOT NULL DEFAULT ({NOW})
);
CREATE INDEX IF NOT EXISTS ix_mird_job ON medical_insurance_reconcile_diffs (job_id);
CREATE INDEX IF NOT EXISTS ix_mird_date ON medical_insurance_reconcile_diffs (stmt_date);

CREATE VIEW IF NOT EXISTS v_medical_insurance_result AS
SELECT r.request_id,
       r.interface_code,
       r.input_data,
       r.status,
       r.create_time                       AS request_time,
       r.retry_count,
       resp.response_data,
       resp.infcode,
       COALESCE(resp.err_msg, r.last_error) AS err_msg,
       resp.create_time                    AS response_time,
       r.msgid,
       r.update_time,
       resp.origin                         AS response_origin
FROM medical_insurance_requests r
LEFT JOIN medical_insurance_responses resp ON r.request_id = resp.request_id;
"#
    )
}
