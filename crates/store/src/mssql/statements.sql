/* The SQL Server store's statements, one batch each, loaded by statements.rs.
   @P1, @P2, ... are the driver's parameters (never concatenated text). CI parses this file
   with sqlfluff (tsql) like everything in sql/.
   Rows come back through OUTPUT ... INTO a table variable, because OUTPUT without INTO is
   refused on tables with triggers, which a hospital's DBA may well add for auditing.

   The three statements that hand out a claimed row (insert_request, claim_pending,
   claim_one) return the same columns, read by mssql/rows.rs: request_id, the text columns
   as the UTF-16LE bytes of NVARCHAR (VARBINARY), retry_count, claim_gen and expired. Text
   travels as bytes because the driver fails the whole result (every row of the batch, after
   the claim has committed) on one value that is not valid UTF-16, such as a lone surrogate
   written into input_data; decoded by the broker instead, such a value becomes that row's
   defect and the other rows go on. VARCHAR columns become NVARCHAR in @t (the server's
   conversion never fails). */

-- name: schema_version
SELECT value FROM dbo.medical_insurance_settings WHERE name = 'schema_version';
GO

-- name: insert_request
-- @P1 code, @P2 input, @P3..@P7 overrides, @P8 status, @P9 worker, @P10 lease,
-- @P11 claim_gen (1 when inserted claimed, else 0), @P12 expires_at as ISO 8601 text
-- (yyyy-mm-ddThh:mi:ss.mmm, local time; style 126 ignores SET LANGUAGE/DATEFORMAT) or NULL.
DECLARE @t TABLE (
    request_id INT, interface_code NVARCHAR(MAX), input_data NVARCHAR(MAX), retry_count INT,
    insuplc_admdvs NVARCHAR(MAX), mdtrtarea_admvs NVARCHAR(MAX), opter NVARCHAR(MAX),
    opter_name NVARCHAR(MAX), opter_type NVARCHAR(MAX), claim_gen INT, expires_at DATETIME
);
INSERT INTO dbo.medical_insurance_requests (
    interface_code, input_data, insuplc_admdvs, mdtrtarea_admvs, opter, opter_name,
    opter_type, status, worker_id, lease_until, retry_count, claim_gen, expires_at
)
OUTPUT
    inserted.request_id, inserted.interface_code, inserted.input_data, inserted.retry_count,
    inserted.insuplc_admdvs, inserted.mdtrtarea_admvs, inserted.opter, inserted.opter_name,
    inserted.opter_type, inserted.claim_gen, inserted.expires_at
INTO @t
VALUES (
    @P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8, @P9, @P10, 0, @P11,
    CONVERT(DATETIME, @P12, 126)
);
SELECT
    request_id,
    CAST(interface_code AS VARBINARY(MAX)) AS interface_code,
    CAST(input_data AS VARBINARY(MAX)) AS input_data,
    retry_count,
    CAST(insuplc_admdvs AS VARBINARY(MAX)) AS insuplc_admdvs,
    CAST(mdtrtarea_admvs AS VARBINARY(MAX)) AS mdtrtarea_admvs,
    CAST(opter AS VARBINARY(MAX)) AS opter,
    CAST(opter_name AS VARBINARY(MAX)) AS opter_name,
    CAST(opter_type AS VARBINARY(MAX)) AS opter_type,
    claim_gen,
    CASE WHEN expires_at IS NULL OR expires_at > GETDATE() THEN 0 ELSE 1 END AS expired
FROM @t;
GO

-- name: claim_pending
-- @P1 worker, @P2 lease_until, @P3 now, @P4 limit. READPAST skips rows another broker has
-- locked, UPDLOCK keeps two brokers from reading the same free row, ORDER BY = oldest first.
-- Each claim adds one to claim_gen: the fencing token the holder must show from now on.
DECLARE @t TABLE (
    request_id INT, interface_code NVARCHAR(MAX), input_data NVARCHAR(MAX), retry_count INT,
    insuplc_admdvs NVARCHAR(MAX), mdtrtarea_admvs NVARCHAR(MAX), opter NVARCHAR(MAX),
    opter_name NVARCHAR(MAX), opter_type NVARCHAR(MAX), claim_gen INT, expires_at DATETIME
);
WITH due AS (
    SELECT TOP (@P4)
        request_id, status, worker_id, lease_until, update_time, claim_gen, expires_at,
        interface_code, input_data, retry_count, insuplc_admdvs, mdtrtarea_admvs, opter,
        opter_name, opter_type
    FROM dbo.medical_insurance_requests WITH (ROWLOCK, READPAST, UPDLOCK)
    WHERE status = 'PENDING' AND (next_attempt_at IS NULL OR next_attempt_at <= @P3)
    ORDER BY request_id
)
UPDATE due
SET
    status = 'PROCESSING', worker_id = @P1, lease_until = @P2, claim_gen = claim_gen + 1,
    update_time = GETDATE()
OUTPUT
    inserted.request_id, inserted.interface_code, inserted.input_data, inserted.retry_count,
    inserted.insuplc_admdvs, inserted.mdtrtarea_admvs, inserted.opter, inserted.opter_name,
    inserted.opter_type, inserted.claim_gen, inserted.expires_at
INTO @t;
SELECT
    request_id,
    CAST(interface_code AS VARBINARY(MAX)) AS interface_code,
    CAST(input_data AS VARBINARY(MAX)) AS input_data,
    retry_count,
    CAST(insuplc_admdvs AS VARBINARY(MAX)) AS insuplc_admdvs,
    CAST(mdtrtarea_admvs AS VARBINARY(MAX)) AS mdtrtarea_admvs,
    CAST(opter AS VARBINARY(MAX)) AS opter,
    CAST(opter_name AS VARBINARY(MAX)) AS opter_name,
    CAST(opter_type AS VARBINARY(MAX)) AS opter_type,
    claim_gen,
    CASE WHEN expires_at IS NULL OR expires_at > GETDATE() THEN 0 ELSE 1 END AS expired
FROM @t
ORDER BY request_id;
GO

-- name: claim_one
-- @P1 request_id, @P2 worker, @P3 lease_until. Second result set: the status if not claimed.
DECLARE @t TABLE (
    request_id INT, interface_code NVARCHAR(MAX), input_data NVARCHAR(MAX), retry_count INT,
    insuplc_admdvs NVARCHAR(MAX), mdtrtarea_admvs NVARCHAR(MAX), opter NVARCHAR(MAX),
    opter_name NVARCHAR(MAX), opter_type NVARCHAR(MAX), claim_gen INT, expires_at DATETIME
);
UPDATE dbo.medical_insurance_requests WITH (ROWLOCK)
SET
    status = 'PROCESSING', worker_id = @P2, lease_until = @P3, claim_gen = claim_gen + 1,
    update_time = GETDATE()
OUTPUT
    inserted.request_id, inserted.interface_code, inserted.input_data, inserted.retry_count,
    inserted.insuplc_admdvs, inserted.mdtrtarea_admvs, inserted.opter, inserted.opter_name,
    inserted.opter_type, inserted.claim_gen, inserted.expires_at
INTO @t
WHERE request_id = @P1 AND status = 'PENDING';
SELECT
    request_id,
    CAST(interface_code AS VARBINARY(MAX)) AS interface_code,
    CAST(input_data AS VARBINARY(MAX)) AS input_data,
    retry_count,
    CAST(insuplc_admdvs AS VARBINARY(MAX)) AS insuplc_admdvs,
    CAST(mdtrtarea_admvs AS VARBINARY(MAX)) AS mdtrtarea_admvs,
    CAST(opter AS VARBINARY(MAX)) AS opter,
    CAST(opter_name AS VARBINARY(MAX)) AS opter_name,
    CAST(opter_type AS VARBINARY(MAX)) AS opter_type,
    claim_gen,
    CASE WHEN expires_at IS NULL OR expires_at > GETDATE() THEN 0 ELSE 1 END AS expired
FROM @t;
SELECT status FROM dbo.medical_insurance_requests WHERE request_id = @P1;
GO

-- name: begin_attempt
-- @P1 request_id, @P2 worker, @P3 infno, @P4 msgid, @P5 lease_until, @P6 fence (the
-- holder's claim_gen). Returns the attempt id; -1 when the claim is not the current one
-- (lease lost); -2 when it is but expires_at has passed (never send). A msgid already used
-- fails on uq_mia_msgid (2627) and rolls everything back.
SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @n INT;
DECLARE @held INT;
SELECT @n = COALESCE(MAX(attempt_no), 0) + 1
FROM dbo.medical_insurance_attempts WITH (UPDLOCK, HOLDLOCK)
WHERE request_id = @P1;
UPDATE dbo.medical_insurance_requests
SET
    msgid = @P4,
    retry_count = @n - 1,
    lease_until = CASE WHEN COALESCE(lease_until, 0) > @P5 THEN lease_until ELSE @P5 END
WHERE
    request_id = @P1 AND status = 'PROCESSING' AND worker_id = @P2 AND claim_gen = @P6
    AND (expires_at IS NULL OR expires_at > GETDATE());
IF @@ROWCOUNT = 0
BEGIN
    -- Why not: still held (then the deadline stopped it) or not.
    SELECT @held = COUNT(*)
    FROM dbo.medical_insurance_requests
    WHERE
        request_id = @P1 AND status = 'PROCESSING' AND worker_id = @P2
        AND claim_gen = @P6;
    ROLLBACK TRANSACTION;
    SELECT CAST(CASE WHEN @held > 0 THEN -2 ELSE -1 END AS BIGINT) AS attempt_id;
END
ELSE
BEGIN
    INSERT INTO dbo.medical_insurance_attempts (request_id, attempt_no, infno, msgid, worker_id)
    VALUES (@P1, @n, @P3, @P4, @P2);
    SELECT CAST(SCOPE_IDENTITY() AS BIGINT) AS attempt_id;
    COMMIT TRANSACTION;
END;
GO

-- name: heartbeat
-- @P1 request_id, @P2 worker, @P3 fence, @P4 lease_until. Extends (never shortens) the
-- lease of a row the holder's claim still holds; returns 1, or 0 when the claim is lost.
UPDATE dbo.medical_insurance_requests
SET lease_until = CASE WHEN COALESCE(lease_until, 0) > @P4 THEN lease_until ELSE @P4 END
WHERE request_id = @P1 AND status = 'PROCESSING' AND worker_id = @P2 AND claim_gen = @P3;
SELECT @@ROWCOUNT AS held;
GO

-- name: end_attempt
-- @P1 attempt_id, @P2 duration_ms, @P3 outcome
UPDATE dbo.medical_insurance_attempts
SET end_time = GETDATE(), duration_ms = @P2, outcome = @P3
WHERE attempt_id = @P1;
GO

-- name: expired_leases
-- @P1 now, @P2 limit. claim_gen is the fence recovery must still find (it moves the row
-- only if nobody claimed it since).
SELECT TOP (@P2)
    r.request_id,
    r.interface_code,
    r.worker_id,
    r.lease_until,
    (
        SELECT COUNT(*) FROM dbo.medical_insurance_attempts AS a
        WHERE a.request_id = r.request_id
    ) AS attempts,
    (
        SELECT TOP 1 a.msgid FROM dbo.medical_insurance_attempts AS a
        WHERE a.request_id = r.request_id
        ORDER BY a.attempt_no DESC
    ) AS last_msgid,
    r.claim_gen
FROM dbo.medical_insurance_requests AS r WITH (READPAST)
WHERE r.status = 'PROCESSING' AND (r.lease_until IS NULL OR r.lease_until < @P1)
ORDER BY r.request_id;
GO

-- name: recover
-- @P1 request_id, @P2 new status, @P3 reason, @P4 worker (may be NULL), @P5 lease (may be
-- NULL), @P6 now, @P7 fence. Moves the row only if it is still under the same expired
-- lease and the same claim.
SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE dbo.medical_insurance_requests
SET
    status = @P2, worker_id = NULL, lease_until = NULL, last_error = @P3,
    update_time = GETDATE()
WHERE
    request_id = @P1 AND status = 'PROCESSING' AND claim_gen = @P7
    AND ((worker_id IS NULL AND @P4 IS NULL) OR worker_id = @P4)
    AND ((lease_until IS NULL AND @P5 IS NULL) OR lease_until = @P5)
    AND (lease_until IS NULL OR lease_until < @P6);
IF @@ROWCOUNT = 1
BEGIN
    UPDATE dbo.medical_insurance_attempts
    SET end_time = GETDATE(), outcome = 'ABANDONED'
    WHERE request_id = @P1 AND outcome = 'SENDING';
    SELECT CAST(1 AS INT) AS moved;
END
ELSE
    SELECT CAST(0 AS INT) AS moved;
COMMIT TRANSACTION;
GO

-- name: finish
-- @P1 request_id, @P2 worker, @P3 status, @P4 error, @P5 attempt_id (or NULL),
-- @P6 duration_ms, @P7 outcome, @P8 1 = write a response, @P9 response_data, @P10 infcode,
-- @P11 err_msg, @P12 origin, @P13 how many field rows follow (0 = none), @P14 fence, @P15 1 = the
-- response is the platform's reply, @P16 the reason shown on the request(s) this one
-- reverses, when it is a 2601 that completes. One transaction; returns 0 when the claim is
-- not the current one. With @P13 > 0 the transaction stays open for the field rows, sent
-- next on the same connection as multi-row INSERT batches (mssql/fields.rs), the last of
-- which commits; a connection that fails meanwhile is closed, and the server rolls back.
-- The second branch of the WHERE: a platform reply in hand may still replace the guess
-- recovery made (UNCERTAIN or PENDING) while this broker could not reach the database, if
-- nobody claimed the row since (same claim_gen) and no 冲正 was started for it.
SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @originals INT;
-- A completing 2601 first locks the request(s) it reverses, before its own row: the order
-- begin_reversal takes them in (original, then its 2601), so a 2601 finishing while
-- someone asks to reverse the same original again waits instead of deadlocking. The
-- status test makes the lock reach the table's rows, not only ix_mir_reversal.
IF @P3 = 'COMPLETED'
    SELECT @originals = COUNT(*)
    FROM dbo.medical_insurance_requests WITH (UPDLOCK, ROWLOCK)
    WHERE reversal_id = @P1 AND status IN ('UNCERTAIN', 'COMPLETED');
UPDATE dbo.medical_insurance_requests
SET status = @P3, update_time = GETDATE(), lease_until = NULL, last_error = @P4
WHERE
    request_id = @P1 AND claim_gen = @P14
    AND (
        (status = 'PROCESSING' AND worker_id = @P2)
        OR (@P15 = 1 AND status IN ('UNCERTAIN', 'PENDING') AND reversal_id IS NULL)
    );
IF @@ROWCOUNT = 0
BEGIN
    ROLLBACK TRANSACTION;
    SELECT CAST(0 AS INT) AS held;
END
ELSE
BEGIN
    IF @P5 IS NOT NULL
        UPDATE dbo.medical_insurance_attempts
        SET end_time = GETDATE(), duration_ms = @P6, outcome = @P7
        WHERE attempt_id = @P5;
    IF @P8 = 1
    BEGIN
        UPDATE dbo.medical_insurance_responses
        SET
            response_data = @P9, infcode = @P10, err_msg = @P11, origin = @P12,
            create_time = GETDATE()
        WHERE request_id = @P1;
        IF @@ROWCOUNT = 0
            INSERT INTO dbo.medical_insurance_responses (
                request_id, response_data, infcode, err_msg, origin
            )
            VALUES (@P1, @P9, @P10, @P11, @P12);
        -- Output values the catalog names replace those of an earlier reply; the new
        -- ones follow in their own batches (@P13 rows).
        DELETE FROM dbo.medical_insurance_response_fields WHERE request_id = @P1;
    END;
    -- A completed 2601 reverses the request(s) it was started for, in this transaction.
    IF @P3 = 'COMPLETED'
        UPDATE dbo.medical_insurance_requests
        SET status = 'REVERSED', last_error = @P16, update_time = GETDATE()
        WHERE reversal_id = @P1 AND status IN ('UNCERTAIN', 'COMPLETED');
    SELECT CAST(1 AS INT) AS held;
    IF @P13 = 0 OR @P8 = 0
        COMMIT TRANSACTION;
END;
GO

-- name: cancel
-- @P1 request_id, @P2 reason. PENDING becomes ERROR atomically (never sent). Result sets:
-- 1 if cancelled (else 0), then the row's status (none when there is no such row).
UPDATE dbo.medical_insurance_requests
SET
    status = 'ERROR', last_error = @P2, worker_id = NULL, lease_until = NULL,
    update_time = GETDATE()
WHERE request_id = @P1 AND status = 'PENDING';
SELECT @@ROWCOUNT AS cancelled;
SELECT status FROM dbo.medical_insurance_requests WHERE request_id = @P1;
GO

-- name: begin_reversal
-- @P1 original request_id, then the 2601 request: @P2 code, @P3 input, @P4..@P8 overrides,
-- @P9 expires_at (as in insert_request). One transaction. UPDLOCK + HOLDLOCK on the
-- original row make concurrent callers (several brokers, several operators) wait for each
-- other here, so the second one sees the first one's reversal_id: one 冲正 in flight per
-- request. Returns one row: outcome (STARTED, EXISTING, WRONG_STATE, NOT_FOUND), the 2601's
-- request_id (STARTED, EXISTING) and a status (the existing 2601's, or the original's).
SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @found INT;
DECLARE @status VARCHAR(20);
DECLARE @existing INT;
DECLARE @existing_status VARCHAR(20);
DECLARE @new INT;
SET @found = 0;
SELECT @found = 1, @status = status, @existing = reversal_id
FROM dbo.medical_insurance_requests WITH (UPDLOCK, HOLDLOCK, ROWLOCK)
WHERE request_id = @P1;
IF @existing IS NOT NULL
    SELECT @existing_status = status
    FROM dbo.medical_insurance_requests
    WHERE request_id = @existing;
IF @found = 0
BEGIN
    COMMIT TRANSACTION;
    SELECT
        'NOT_FOUND' AS outcome, CAST(NULL AS INT) AS request_id,
        CAST(NULL AS VARCHAR(20)) AS status;
END
-- A 2601 in flight or done is the answer; one that ended ERROR (or vanished) may be
-- replaced.
ELSE IF @existing_status IS NOT NULL AND @existing_status <> 'ERROR'
BEGIN
    COMMIT TRANSACTION;
    SELECT 'EXISTING' AS outcome, @existing AS request_id, @existing_status AS status;
END
ELSE IF @status IS NULL OR @status NOT IN ('UNCERTAIN', 'COMPLETED')
BEGIN
    COMMIT TRANSACTION;
    SELECT 'WRONG_STATE' AS outcome, CAST(NULL AS INT) AS request_id, @status AS status;
END
ELSE
BEGIN
    INSERT INTO dbo.medical_insurance_requests (
        interface_code, input_data, insuplc_admdvs, mdtrtarea_admvs, opter, opter_name,
        opter_type, status, retry_count, claim_gen, expires_at
    )
    VALUES (
        @P2, @P3, @P4, @P5, @P6, @P7, @P8, 'PENDING', 0, 0, CONVERT(DATETIME, @P9, 126)
    );
    SET @new = CONVERT(INT, SCOPE_IDENTITY());
    UPDATE dbo.medical_insurance_requests
    SET reversal_id = @new
    WHERE request_id = @P1;
    COMMIT TRANSACTION;
    SELECT 'STARTED' AS outcome, @new AS request_id, CAST(NULL AS VARCHAR(20)) AS status;
END;
GO

-- name: transition
-- @P1 request_id, @P2 from, @P3 to, @P4 reason
UPDATE dbo.medical_insurance_requests
SET status = @P3, last_error = @P4, update_time = GETDATE()
WHERE request_id = @P1 AND status = CAST(@P2 AS VARCHAR(20));
SELECT @@ROWCOUNT AS moved;
GO

-- name: get
-- @P1 request_id. The two columns the HIS writes travel as UTF-16LE bytes, like a claim's,
-- so one unreadable value is shown as such instead of failing the read (mssql/rows.rs).
SELECT
    request_id,
    CAST(CAST(interface_code AS NVARCHAR(MAX)) AS VARBINARY(MAX)) AS interface_code,
    CAST(CAST(input_data AS NVARCHAR(MAX)) AS VARBINARY(MAX)) AS input_data,
    status, retry_count, msgid, response_data, infcode, err_msg
FROM dbo.v_medical_insurance_result
WHERE request_id = @P1;
GO

-- name: needs_action
-- @P1 limit. Columns as in get: a row ended ERROR for unreadable input must not make the
-- whole list unreadable.
SELECT TOP (@P1)
    request_id,
    CAST(CAST(interface_code AS NVARCHAR(MAX)) AS VARBINARY(MAX)) AS interface_code,
    CAST(CAST(input_data AS NVARCHAR(MAX)) AS VARBINARY(MAX)) AS input_data,
    status, retry_count, msgid, response_data, infcode, err_msg
FROM dbo.v_medical_insurance_result
WHERE status IN ('UNCERTAIN', 'ERROR')
ORDER BY request_id DESC;
GO

-- name: counts
SELECT status, COUNT(*) AS n
FROM dbo.medical_insurance_requests
GROUP BY status;
GO

-- name: last_msgid
SELECT TOP 1 msgid
FROM dbo.medical_insurance_attempts
ORDER BY attempt_id DESC;
GO

-- name: response_fields
-- @P1 request_id
SELECT path, row_index, value
FROM dbo.medical_insurance_response_fields
WHERE request_id = @P1
ORDER BY path, row_index;
GO

-- name: add_file
-- @P1 request_id, @P2 direction, @P3 file_qury_no, @P4 filename, @P5 path, @P6 size,
-- @P7 sha256. OUTPUT INTO a table variable: a trigger the DBA adds cannot break it.
DECLARE @t TABLE (file_id INT);
INSERT INTO dbo.medical_insurance_files (
    request_id, direction, file_qury_no, filename, path, size, sha256
)
OUTPUT inserted.file_id INTO @t
VALUES (@P1, @P2, @P3, @P4, @P5, @P6, @P7);
SELECT file_id FROM @t;
GO

-- name: file_content
-- @P1 file_id, @P2 the largest content returned (a larger one is only measured)
SELECT
    filename,
    CASE WHEN DATALENGTH(content) <= @P2 THEN content END AS content,
    path,
    CAST(DATALENGTH(content) AS BIGINT) AS content_size
FROM dbo.medical_insurance_files
WHERE file_id = @P1;
GO

-- name: insert_job
-- @P1 kind, @P2 params, @P3 schedule_name, @P4 slot. A scheduled job whose slot already has
-- a row is not inserted again (HOLDLOCK: two brokers cannot both miss the other's row; the
-- unique index ux_mij_slot backs it). Returns job_id and created (1 new, 0 existing).
-- ARITHABORT: the filtered index ux_mij_slot refuses writes without it, and a
-- database at compatibility level 80 does not turn it on with the ANSI options.
SET ARITHABORT ON;
SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @t TABLE (job_id INT);
INSERT INTO dbo.medical_insurance_jobs (kind, params, schedule_name, slot)
OUTPUT inserted.job_id INTO @t
SELECT
    @P1,
    @P2,
    @P3,
    @P4
WHERE NOT EXISTS (
    SELECT 1 FROM dbo.medical_insurance_jobs WITH (UPDLOCK, HOLDLOCK)
    WHERE schedule_name = @P3 AND slot = @P4
);
COMMIT TRANSACTION;
SELECT
    job_id,
    CAST(1 AS INT) AS created
FROM @t
UNION ALL
SELECT
    job_id,
    CAST(0 AS INT) AS created
FROM dbo.medical_insurance_jobs
WHERE NOT EXISTS (SELECT 1 FROM @t) AND schedule_name = @P3 AND slot = @P4;
GO

-- name: claim_job
-- @P1 job_id (NULL: the oldest claimable), @P2 worker, @P3 lease_until, @P4 now (epoch ms).
-- Claimable: PENDING, or RUNNING with its lease passed. READPAST: brokers skip each
-- other's rows instead of waiting. Returns the job's columns (job_columns order).
-- ARITHABORT: the filtered index ux_mij_slot refuses writes without it, and a
-- database at compatibility level 80 does not turn it on with the ANSI options.
SET ARITHABORT ON;
DECLARE @t TABLE (job_id INT);
WITH c AS (
    SELECT TOP (1)
        job_id,
        status,
        worker_id,
        lease_until,
        claim_gen,
        err_msg,
        start_time
    FROM dbo.medical_insurance_jobs WITH (ROWLOCK, READPAST, UPDLOCK)
    WHERE
        (@P1 IS NULL OR job_id = @P1)
        AND (
            status = 'PENDING'
            OR (status = 'RUNNING' AND COALESCE(lease_until, 0) < @P4)
        )
    ORDER BY job_id
)
UPDATE c
SET
    status = 'RUNNING', worker_id = @P2, lease_until = @P3, claim_gen = claim_gen + 1,
    err_msg = NULL, start_time = COALESCE(start_time, GETDATE())
OUTPUT inserted.job_id INTO @t;
SELECT
    j.job_id, j.kind, j.params, j.schedule_name, j.slot, j.status, j.worker_id, j.claim_gen,
    j.result, j.err_msg,
    CONVERT(NVARCHAR(23), j.create_time, 121) AS create_time,
    CONVERT(NVARCHAR(23), j.end_time, 121) AS end_time
FROM dbo.medical_insurance_jobs AS j
INNER JOIN @t AS t ON j.job_id = t.job_id;
GO

-- name: extend_job
-- @P1 job_id, @P2 claim_gen, @P3 lease_until. Returns the rows changed (0: not ours).
-- ARITHABORT: the filtered index ux_mij_slot refuses writes without it, and a
-- database at compatibility level 80 does not turn it on with the ANSI options.
SET ARITHABORT ON;
UPDATE dbo.medical_insurance_jobs WITH (ROWLOCK)
SET lease_until = @P3
WHERE job_id = @P1 AND claim_gen = @P2 AND status = 'RUNNING';
SELECT @@ROWCOUNT AS changed;
GO

-- name: finish_job
-- @P1 job_id, @P2 claim_gen, @P3 status, @P4 result, @P5 err_msg. Returns the rows changed.
-- ARITHABORT: the filtered index ux_mij_slot refuses writes without it, and a
-- database at compatibility level 80 does not turn it on with the ANSI options.
SET ARITHABORT ON;
UPDATE dbo.medical_insurance_jobs WITH (ROWLOCK)
SET status = @P3, result = @P4, err_msg = @P5, lease_until = NULL, end_time = GETDATE()
WHERE job_id = @P1 AND claim_gen = @P2 AND status = 'RUNNING';
SELECT @@ROWCOUNT AS changed;
GO

-- name: get_job
-- @P1 job_id
SELECT
    job_id, kind, params, schedule_name, slot, status, worker_id, claim_gen, result, err_msg,
    CONVERT(NVARCHAR(23), create_time, 121) AS create_time,
    CONVERT(NVARCHAR(23), end_time, 121) AS end_time
FROM dbo.medical_insurance_jobs
WHERE job_id = @P1;
GO

-- name: recent_jobs
-- @P1 how many, newest first
SELECT TOP (@P1)
    job_id, kind, params, schedule_name, slot, status, worker_id, claim_gen, result, err_msg,
    CONVERT(NVARCHAR(23), create_time, 121) AS create_time,
    CONVERT(NVARCHAR(23), end_time, 121) AS end_time
FROM dbo.medical_insurance_jobs
ORDER BY job_id DESC;
GO

-- name: catalog_version
-- @P1 catalog_code
SELECT
    ver_name,
    CAST(row_count AS BIGINT) AS row_count,
    job_id
FROM dbo.medical_insurance_catalog_versions
WHERE catalog_code = @P1;
GO

-- name: load_catalog_begin
-- @P1 catalog_code, @P2 the version the run started from (NULL: none). Opens the load's
-- transaction and locks the catalog's version row (or its absence); when another run moved
-- the version, rolls back at once. Returns the version held and whether the transaction is
-- still open (1: go on with the rows, then load_catalog_end).
SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @cur NVARCHAR(100);
SELECT @cur = ver_name
FROM dbo.medical_insurance_catalog_versions WITH (UPDLOCK, HOLDLOCK)
WHERE catalog_code = @P1;
IF NOT ((@cur IS NULL AND @P2 IS NULL) OR @cur = @P2)
    ROLLBACK TRANSACTION;
SELECT
    @cur AS ver_name,
    @@TRANCOUNT AS open_tran;
GO

-- name: load_catalog_end
-- @P1 catalog_code, @P2 the new version, @P3 rows added, @P4 job_id. Records the version
-- and commits the load; returns the catalog's row count. XACT_ABORT again: a SET in one
-- sp_executesql batch ends with it, and an error here must roll the rows back, not commit.
SET XACT_ABORT ON;
MERGE dbo.medical_insurance_catalog_versions WITH (HOLDLOCK) AS v
USING (SELECT @P1 AS catalog_code) AS s
    ON v.catalog_code = s.catalog_code
WHEN MATCHED THEN
    UPDATE SET
        ver_name = @P2, row_count = v.row_count + @P3, job_id = @P4, update_time = GETDATE()
WHEN NOT MATCHED THEN
    INSERT (catalog_code, ver_name, row_count, job_id)
    VALUES (@P1, @P2, @P3, @P4);
COMMIT TRANSACTION;
SELECT CAST(row_count AS BIGINT) AS row_count
FROM dbo.medical_insurance_catalog_versions
WHERE catalog_code = @P1;
GO

-- name: settlements
-- @P1 from, @P2 to (exclusive), yyyy-mm-dd local dates. The codes are the store's constant
-- SETTLEMENT_CODES (a test checks that this list matches it).
SELECT
    r.request_id,
    r.interface_code,
    UPPER(LTRIM(RTRIM(r.status))) AS status,
    r.input_data,
    resp.response_data,
    CONVERT(NVARCHAR(23), r.create_time, 121) AS create_time
FROM dbo.medical_insurance_requests AS r
LEFT JOIN dbo.medical_insurance_responses AS resp ON r.request_id = resp.request_id
WHERE
    r.interface_code IN ('2207', '2207A', '2304', '2208', '2305')
    AND UPPER(LTRIM(RTRIM(r.status))) IN ('COMPLETED', 'UNCERTAIN')
    AND r.create_time >= CONVERT(DATETIME, @P1, 126)
    AND r.create_time < CONVERT(DATETIME, @P2, 126)
ORDER BY r.request_id;
GO

-- name: record_diffs_begin
-- @P1 job_id, @P2 claim_gen. Opens the transaction that replaces the job's differences,
-- if this claim still holds the job (else rolls back at once). Returns whether the
-- transaction is open (1: go on with the rows, then record_diffs_end).
SET XACT_ABORT ON;
BEGIN TRANSACTION;
IF EXISTS (
    SELECT 1 FROM dbo.medical_insurance_jobs WITH (UPDLOCK, ROWLOCK)
    WHERE job_id = @P1 AND claim_gen = @P2 AND status = 'RUNNING'
)
    DELETE FROM dbo.medical_insurance_reconcile_diffs WHERE job_id = @P1;
ELSE
    ROLLBACK TRANSACTION;
SELECT @@TRANCOUNT AS open_tran;
GO

-- name: record_diff
-- @P1 job_id, @P2 stmt_date, @P3 kind, @P4 setl_id, @P5 mdtrt_id, @P6 psn_no,
-- @P7 refd_setl_flag, @P8 memo, @P9 request_id
SET XACT_ABORT ON;
INSERT INTO dbo.medical_insurance_reconcile_diffs (
    job_id, stmt_date, kind, setl_id, mdtrt_id, psn_no, refd_setl_flag, memo, request_id
)
VALUES (@P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8, @P9);
GO

-- name: record_diffs_end
SET XACT_ABORT ON;
COMMIT TRANSACTION;
SELECT 1 AS done;
GO
