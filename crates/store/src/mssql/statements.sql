/* The SQL Server store's statements, one batch each, loaded by statements.rs.
   @P1, @P2, ... are the driver's parameters (never concatenated text). CI parses this file
   with sqlfluff (tsql) like everything in sql/.
   Rows come back through OUTPUT ... INTO a table variable, because OUTPUT without INTO is
   refused on tables with triggers, which a hospital's DBA may well add for auditing. */

-- name: schema_version
SELECT value FROM dbo.medical_insurance_settings WHERE name = 'schema_version';
GO

-- name: insert_request
-- @P1 code, @P2 input, @P3..@P7 overrides, @P8 status, @P9 worker, @P10 lease
DECLARE @t TABLE (
    request_id INT, interface_code VARCHAR(10), input_data NVARCHAR(MAX), retry_count INT,
    insuplc_admdvs VARCHAR(10), mdtrtarea_admvs VARCHAR(10), opter NVARCHAR(50),
    opter_name NVARCHAR(50), opter_type VARCHAR(4)
);
INSERT INTO dbo.medical_insurance_requests (
    interface_code, input_data, insuplc_admdvs, mdtrtarea_admvs, opter, opter_name,
    opter_type, status, worker_id, lease_until, retry_count
)
OUTPUT
    inserted.request_id, inserted.interface_code, inserted.input_data, inserted.retry_count,
    inserted.insuplc_admdvs, inserted.mdtrtarea_admvs, inserted.opter, inserted.opter_name,
    inserted.opter_type
INTO @t
VALUES (@P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8, @P9, @P10, 0);
SELECT
    request_id, interface_code, input_data, retry_count, insuplc_admdvs, mdtrtarea_admvs,
    opter, opter_name, opter_type
FROM @t;
GO

-- name: claim_pending
-- @P1 worker, @P2 lease_until, @P3 now, @P4 limit. READPAST skips rows another broker has
-- locked, UPDLOCK keeps two brokers from reading the same free row, ORDER BY = oldest first.
DECLARE @t TABLE (
    request_id INT, interface_code VARCHAR(10), input_data NVARCHAR(MAX), retry_count INT,
    insuplc_admdvs VARCHAR(10), mdtrtarea_admvs VARCHAR(10), opter NVARCHAR(50),
    opter_name NVARCHAR(50), opter_type VARCHAR(4)
);
WITH due AS (
    SELECT TOP (@P4)
        request_id, status, worker_id, lease_until, update_time, interface_code, input_data,
        retry_count, insuplc_admdvs, mdtrtarea_admvs, opter, opter_name, opter_type
    FROM dbo.medical_insurance_requests WITH (ROWLOCK, READPAST, UPDLOCK)
    WHERE status = 'PENDING' AND (next_attempt_at IS NULL OR next_attempt_at <= @P3)
    ORDER BY request_id
)
UPDATE due
SET status = 'PROCESSING', worker_id = @P1, lease_until = @P2, update_time = GETDATE()
OUTPUT
    inserted.request_id, inserted.interface_code, inserted.input_data, inserted.retry_count,
    inserted.insuplc_admdvs, inserted.mdtrtarea_admvs, inserted.opter, inserted.opter_name,
    inserted.opter_type
INTO @t;
SELECT
    request_id, interface_code, input_data, retry_count, insuplc_admdvs, mdtrtarea_admvs,
    opter, opter_name, opter_type
FROM @t
ORDER BY request_id;
GO

-- name: claim_one
-- @P1 request_id, @P2 worker, @P3 lease_until. Second result set: the status if not claimed.
DECLARE @t TABLE (
    request_id INT, interface_code VARCHAR(10), input_data NVARCHAR(MAX), retry_count INT,
    insuplc_admdvs VARCHAR(10), mdtrtarea_admvs VARCHAR(10), opter NVARCHAR(50),
    opter_name NVARCHAR(50), opter_type VARCHAR(4)
);
UPDATE dbo.medical_insurance_requests WITH (ROWLOCK)
SET status = 'PROCESSING', worker_id = @P2, lease_until = @P3, update_time = GETDATE()
OUTPUT
    inserted.request_id, inserted.interface_code, inserted.input_data, inserted.retry_count,
    inserted.insuplc_admdvs, inserted.mdtrtarea_admvs, inserted.opter, inserted.opter_name,
    inserted.opter_type
INTO @t
WHERE request_id = @P1 AND status = 'PENDING';
SELECT
    request_id, interface_code, input_data, retry_count, insuplc_admdvs, mdtrtarea_admvs,
    opter, opter_name, opter_type
FROM @t;
SELECT status FROM dbo.medical_insurance_requests WHERE request_id = @P1;
GO

-- name: begin_attempt
-- @P1 request_id, @P2 worker, @P3 infno, @P4 msgid, @P5 lease_until. Returns the attempt
-- id, or -1 when the row is no longer held by this worker. A msgid already used fails on
-- uq_mia_msgid (2627) and rolls everything back.
SET XACT_ABORT ON;
BEGIN TRANSACTION;
DECLARE @n INT;
SELECT @n = COALESCE(MAX(attempt_no), 0) + 1
FROM dbo.medical_insurance_attempts WITH (UPDLOCK, HOLDLOCK)
WHERE request_id = @P1;
UPDATE dbo.medical_insurance_requests
SET
    msgid = @P4,
    retry_count = @n - 1,
    lease_until = CASE WHEN COALESCE(lease_until, 0) > @P5 THEN lease_until ELSE @P5 END
WHERE request_id = @P1 AND status = 'PROCESSING' AND worker_id = @P2;
IF @@ROWCOUNT = 0
BEGIN
    ROLLBACK TRANSACTION;
    SELECT CAST(-1 AS BIGINT) AS attempt_id;
END
ELSE
BEGIN
    INSERT INTO dbo.medical_insurance_attempts (request_id, attempt_no, infno, msgid, worker_id)
    VALUES (@P1, @n, @P3, @P4, @P2);
    SELECT CAST(SCOPE_IDENTITY() AS BIGINT) AS attempt_id;
    COMMIT TRANSACTION;
END;
GO

-- name: end_attempt
-- @P1 attempt_id, @P2 duration_ms, @P3 outcome
UPDATE dbo.medical_insurance_attempts
SET end_time = GETDATE(), duration_ms = @P2, outcome = @P3
WHERE attempt_id = @P1;
GO

-- name: expired_leases
-- @P1 now, @P2 limit
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
    ) AS last_msgid
FROM dbo.medical_insurance_requests AS r WITH (READPAST)
WHERE r.status = 'PROCESSING' AND (r.lease_until IS NULL OR r.lease_until < @P1)
ORDER BY r.request_id;
GO

-- name: recover
-- @P1 request_id, @P2 new status, @P3 reason, @P4 worker (may be NULL), @P5 lease (may be
-- NULL), @P6 now. Moves the row only if it is still under the same expired lease.
SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE dbo.medical_insurance_requests
SET
    status = @P2, worker_id = NULL, lease_until = NULL, last_error = @P3,
    update_time = GETDATE()
WHERE
    request_id = @P1 AND status = 'PROCESSING'
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
-- @P11 err_msg, @P12 origin, @P13 field rows as XML (or NULL). One transaction; returns 0
-- when the row is not ours.
SET XACT_ABORT ON;
BEGIN TRANSACTION;
UPDATE dbo.medical_insurance_requests
SET status = @P3, update_time = GETDATE(), lease_until = NULL, last_error = @P4
WHERE request_id = @P1 AND status = 'PROCESSING' AND worker_id = @P2;
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
        -- Output values the catalog names (@P13: XML, see mssql/fields.rs), replacing
        -- those of an earlier reply.
        DELETE FROM dbo.medical_insurance_response_fields WHERE request_id = @P1;
        IF @P13 IS NOT NULL
            INSERT INTO dbo.medical_insurance_response_fields (
                request_id, path, row_index, value
            )
            SELECT
                @P1,
                f.n.value('@p', 'NVARCHAR(200)'),
                f.n.value('@i', 'INT'),
                CAST(
                    f.n.value('xs:base64Binary(@v)', 'VARBINARY(MAX)') AS NVARCHAR(MAX)
                )
            FROM (SELECT CAST(@P13 AS XML) AS d) AS x
            CROSS APPLY x.d.nodes('/f') AS f (n);
    END;
    SELECT CAST(1 AS INT) AS held;
    COMMIT TRANSACTION;
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
-- @P1 request_id
SELECT
    request_id, interface_code, input_data, status, retry_count, msgid, response_data,
    infcode, err_msg
FROM dbo.v_medical_insurance_result
WHERE request_id = @P1;
GO

-- name: needs_action
-- @P1 limit
SELECT TOP (@P1)
    request_id, interface_code, input_data, status, retry_count, msgid, response_data,
    infcode, err_msg
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
