/* =============================================================================
   yibao 安装脚本 / install script
   适用：SQL Server 2008 R2 及以上版本（不使用 CREATE OR ALTER、JSON 函数、THROW、CONCAT 等新语法）。
   For SQL Server 2008 R2 and later (no CREATE OR ALTER, JSON functions, THROW, CONCAT, ...).

   可重复执行：已存在的表只补充缺少的列和索引，已有数据不会丢失；视图和存储过程用
   “先建空壳、再 ALTER” 的方式更新，已授予的权限保留。原设计（integration-design）建的旧表也会被升级。
   Rerunnable: existing tables only gain missing columns and indexes, no row is lost; the
   view and procedures are updated with "create a stub, then ALTER", so granted permissions
   stay. Tables created by the original design are upgraded in place.

   用法 / usage（在 HIS 数据库中执行 / run in the HIS database）:
     sqlcmd -S <服务器/server> -d <HIS数据库/database> -E -i install.sql

   编码：本文件为带 BOM 的 UTF-8，sqlcmd 和 SSMS 据此正确读取中文。若文件经某个编辑器保存后丢了 BOM
   （中文注释和提示变成乱码），用 sqlcmd 的 -f 65001 按 UTF-8 读取。
   Encoding: UTF-8 with a BOM, which sqlcmd and SSMS honour. If an editor dropped the BOM (the
   Chinese comments and messages come out garbled), add -f 65001 to read the file as UTF-8.
   ============================================================================= */
SET NOCOUNT ON;
SET ANSI_NULLS ON;
SET QUOTED_IDENTIFIER ON;
GO

/* -----------------------------------------------------------------------------
   1. 请求表：一行一个医保调用 / requests: one row per 医保 call
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.medical_insurance_requests', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_requests (
        request_id INT IDENTITY (1, 1) NOT NULL
        CONSTRAINT pk_medical_insurance_requests PRIMARY KEY,
        interface_code VARCHAR(10) NOT NULL,
        input_data NVARCHAR(MAX) NOT NULL,
        status VARCHAR(20) NOT NULL
        CONSTRAINT df_mir_status DEFAULT ('PENDING'),
        create_time DATETIME NOT NULL
        CONSTRAINT df_mir_create_time DEFAULT (GETDATE()),
        update_time DATETIME NULL,
        retry_count INT NULL
        CONSTRAINT df_mir_retry_count DEFAULT (0)
    );
END;
GO

-- 原设计之后新增的列（缺少才加）/ columns added since the original design (only if missing)
-- next_attempt_at, lease_until: 毫秒时间戳（代理服务比较用）/ epoch milliseconds the broker compares
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'next_attempt_at') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD next_attempt_at BIGINT NULL;
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'lease_until') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD lease_until BIGINT NULL;
-- 持有该行的代理进程 / the broker process holding the row
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'worker_id') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD worker_id NVARCHAR(100) NULL;
-- 最近一次发送的报文 ID / msgid of the latest attempt
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'msgid') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD msgid VARCHAR(40) NULL;
-- 按次覆盖的报文字段 / per-call envelope overrides
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'insuplc_admdvs') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD insuplc_admdvs VARCHAR(10) NULL;
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'mdtrtarea_admvs') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD mdtrtarea_admvs VARCHAR(10) NULL;
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'opter') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD opter NVARCHAR(50) NULL;
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'opter_name') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD opter_name NVARCHAR(50) NULL;
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'opter_type') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD opter_type VARCHAR(4) NULL;
-- 代理服务给出的原因（平台未给出 err_msg 时显示在视图中）/ the broker's reason, shown when the platform gave none
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'last_error') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD last_error NVARCHAR(2000) NULL;
-- 版本 2 / schema 2:
-- claim_gen：认领代数（防护令牌）。每次认领加一；记录发送、续租、结束时都必须与持有者的代数一致，
-- 因此租约过期后被别的代理重新认领的行，原代理再也无法发送或改写。由代理服务认领的行大于 0。
-- SQL Server 2012 之前，给已有数据的表加 NOT NULL 列会改写每一行（表越大越久，期间锁表），请在业务低峰执行。
-- claim_gen: the claim generation (fencing token). Every claim adds one; recording an
-- attempt, extending the lease and finishing all require the holder's generation, so a
-- broker whose expired claim was taken over can no longer send or write. Above 0 once a
-- broker has claimed the row. Before SQL Server 2012, adding a NOT NULL column rewrites
-- every existing row (longer for a big table, which stays locked meanwhile): run off-peak.
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'claim_gen') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD claim_gen INT NOT NULL
    CONSTRAINT df_mir_claim_gen DEFAULT (0);
-- expires_at：截止时间（本地时间，与其他时间列相同），过后绝不发送；NULL = 不限
-- expires_at: deadline (local time, like the other time columns) after which the request is never sent; NULL = none
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'expires_at') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD expires_at DATETIME NULL;
-- reversal_id：为冲正本请求而建的 2601 请求；2601 成功后本请求变为 REVERSED
-- reversal_id: the 2601 request started to reverse this one; REVERSED once that 2601 completes
IF COL_LENGTH(N'dbo.medical_insurance_requests', N'reversal_id') IS NULL
    ALTER TABLE dbo.medical_insurance_requests ADD reversal_id INT NULL;
GO

-- 认领与恢复用的索引（普通索引：筛选索引会让 QUOTED_IDENTIFIER OFF 的旧存储过程插入失败）
-- Index for the claim and recovery (not filtered: a filtered index would make inserts from
-- old procedures created with QUOTED_IDENTIFIER OFF fail).
IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE
        name = N'ix_mir_status'
        AND object_id = OBJECT_ID(N'dbo.medical_insurance_requests')
)
    CREATE INDEX ix_mir_status
    ON dbo.medical_insurance_requests (status, request_id)
    INCLUDE (next_attempt_at, lease_until);

-- 按冲正请求查原请求（2601 成功时）。同样不用筛选索引（原因同上）：绝大多数行为 NULL，普通索引每行只多几个字节。
-- Finds the original of a completing 2601. Not filtered either (same reason as above):
-- most rows hold NULL, and a plain index costs a few bytes per row.
IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE
        name = N'ix_mir_reversal'
        AND object_id = OBJECT_ID(N'dbo.medical_insurance_requests')
)
    CREATE INDEX ix_mir_reversal
    ON dbo.medical_insurance_requests (reversal_id);
GO

/* -----------------------------------------------------------------------------
   2. 应答表：每个请求一行（平台应答，或代理服务的结论）
      responses: one row per request (the platform's reply, or the broker's verdict)
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.medical_insurance_responses', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_responses (
        response_id INT IDENTITY (1, 1) NOT NULL
        CONSTRAINT pk_medical_insurance_responses PRIMARY KEY,
        request_id INT NOT NULL,
        response_data NVARCHAR(MAX) NOT NULL,
        infcode VARCHAR(10) NULL,
        err_msg NVARCHAR(2000) NULL,
        create_time DATETIME NOT NULL
        CONSTRAINT df_mires_create_time DEFAULT (GETDATE())
    );
END;
GO

-- PLATFORM = 平台应答 / the platform's reply；BROKER = 代理服务的结论 / the broker's verdict
IF COL_LENGTH(N'dbo.medical_insurance_responses', N'origin') IS NULL
    ALTER TABLE dbo.medical_insurance_responses ADD origin VARCHAR(10) NOT NULL
    CONSTRAINT df_mires_origin DEFAULT ('PLATFORM');
-- 原设计的 err_msg 只有 500 字符，放宽到 2000。绝不收窄：NVARCHAR(MAX) 的 COL_LENGTH 为 -1，
-- 所以 -1 必须排除，否则 DBA 放宽成 MAX 的列会被改回 2000（长消息写入失败或被截断）。
-- The original err_msg held 500 characters: widen it to 2000. Never narrow: COL_LENGTH is -1
-- for NVARCHAR(MAX), so -1 is excluded, or a column a DBA widened to MAX would be cut back
-- to 2000 (long messages would then fail or be cut). tests/sql_scripts.rs checks the rule.
IF
    COL_LENGTH(N'dbo.medical_insurance_responses', N'err_msg') <> -1
    AND COL_LENGTH(N'dbo.medical_insurance_responses', N'err_msg') < 4000
    ALTER TABLE dbo.medical_insurance_responses ALTER COLUMN err_msg NVARCHAR(2000) NULL;
GO

-- 每个请求至多一行应答。旧数据若已有重复，则建普通索引并提示（代理服务写入时先更新后插入，两种都能工作）。
-- At most one response per request. If old rows already repeat a request_id, a plain index
-- is created instead, with a notice (the broker updates before it inserts, so both work).
IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE
        name IN (N'ux_mires_request', N'ix_mires_request')
        AND object_id = OBJECT_ID(N'dbo.medical_insurance_responses')
)
BEGIN
    IF EXISTS (
        SELECT request_id FROM dbo.medical_insurance_responses
        GROUP BY request_id HAVING COUNT(*) > 1
    )
    BEGIN
        CREATE INDEX ix_mires_request
        ON dbo.medical_insurance_responses (request_id);
        PRINT N'注意：旧数据中有同一请求的多行应答，已建普通索引 / note: old rows repeat a request_id; created a non-unique index';
    END
    ELSE
        CREATE UNIQUE INDEX ux_mires_request
        ON dbo.medical_insurance_responses (request_id);
END;
GO

/* -----------------------------------------------------------------------------
   3. 发送记录：每次 HTTP 发送一行，发送前写入 msgid（用于冲正与审计）
      attempts: one row per HTTP attempt, with its msgid recorded before sending
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.medical_insurance_attempts', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_attempts (
        attempt_id BIGINT IDENTITY (1, 1) NOT NULL
        CONSTRAINT pk_medical_insurance_attempts PRIMARY KEY,
        request_id INT NOT NULL,
        attempt_no INT NOT NULL,
        infno VARCHAR(10) NOT NULL,
        msgid VARCHAR(40) NOT NULL
        CONSTRAINT uq_mia_msgid UNIQUE,
        worker_id NVARCHAR(100) NOT NULL,
        start_time DATETIME NOT NULL
        CONSTRAINT df_mia_start_time DEFAULT (GETDATE()),
        end_time DATETIME NULL,
        duration_ms BIGINT NULL,
        -- SENDING / SUCCESS / BUSINESS_ERROR / TRANSPORT_ERROR / ABANDONED
        outcome VARCHAR(20) NOT NULL
        CONSTRAINT df_mia_outcome DEFAULT ('SENDING')
    );
END;
GO

IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE
        name = N'ix_mia_request'
        AND object_id = OBJECT_ID(N'dbo.medical_insurance_attempts')
)
    CREATE INDEX ix_mia_request
    ON dbo.medical_insurance_attempts (request_id, attempt_no);
GO

/* -----------------------------------------------------------------------------
   3a. 应答字段表：接口目录中列出的输出字段，一值一行（列表项按 row_index 区分），
       SQL Server 2008 R2–2014 没有 JSON 函数，HIS 用普通 SELECT 即可读取结算金额等。
       response fields: the output values the interface catalog names, one row per value
       (list items by row_index), so SQL without JSON functions reads amounts with SELECT.
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.medical_insurance_response_fields', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_response_fields (
        request_id INT NOT NULL,
        -- 接口目录中的路径，如 setlinfo.setl_id、insuinfo[*].balc / the catalog path
        path NVARCHAR(200) NOT NULL,
        -- 列表项序号（从 0 开始），非列表字段为 0 / list position from 0; 0 for single values
        row_index INT NOT NULL
        CONSTRAINT df_mirf_row_index DEFAULT (0),
        -- 字符串原样，数字为 JSON 写法（如 128.5）/ strings as sent, numbers as in the JSON
        value NVARCHAR(MAX) NULL,
        CONSTRAINT pk_medical_insurance_response_fields
        PRIMARY KEY (request_id, path, row_index)
    );
END;
GO

/* -----------------------------------------------------------------------------
   3b. 文件表：上传（9101）与下载（9102）的文件。下载的文件存放在代理服务主机的磁盘上（path、size、
       sha256）；要上传的文件可由 HIS 把内容写入 content，再以 {"fsUploadIn": {"file_id": 编号}} 调用 9101。
       files sent (9101) and received (9102). A received file stays on the broker host's disk
       (path, size, sha256); a file to send may carry its bytes in content, then call 9101 with
       {"fsUploadIn": {"file_id": <id>}}.
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.medical_insurance_files', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_files (
        file_id INT IDENTITY (1, 1) NOT NULL
        CONSTRAINT pk_medical_insurance_files PRIMARY KEY,
        -- 产生或使用此文件的请求 / the request that received or sent it
        request_id INT NULL,
        -- UPLOAD（要上传或已上传）/ DOWNLOAD（已下载）
        direction NVARCHAR(10) NOT NULL
        CONSTRAINT df_mif_direction DEFAULT (N'UPLOAD'),
        file_qury_no NVARCHAR(200) NULL,
        filename NVARCHAR(260) NOT NULL,
        -- 代理服务主机上的文件路径 / where the file lies on the broker's host
        path NVARCHAR(1000) NULL,
        -- 要上传的文件内容（由 HIS 写入）/ the bytes to send, written by the HIS
        content VARBINARY(MAX) NULL,
        size BIGINT NULL,
        sha256 NVARCHAR(64) NULL,
        create_time DATETIME NOT NULL
        CONSTRAINT df_mif_create_time DEFAULT (GETDATE())
    );
    CREATE INDEX ix_mif_request ON dbo.medical_insurance_files (request_id);
END;
GO

/* -----------------------------------------------------------------------------
   3c. 升级：原设计留下的处理中请求 / upgrade: requests the original design left PROCESSING
       （在发送记录表之后：要结束这些行未完成的发送记录）
       (after the attempts table: the rows' unfinished attempts are ended too)
   ----------------------------------------------------------------------------- */
-- 原设计留下的 PROCESSING 行：没有处理进程、租约和发送记录，无法证明未发出。改变状态的交易（接口目录
-- crates/core/catalog/national.toml 中 class 不是 read-only 的，以及目录中没有的代码）标为 UNCERTAIN，
-- 任何代理服务都不会重发；只读交易保持 PROCESSING，由代理服务的恢复按站点目录重新排队（重复查询无害）。
-- 代理服务的恢复对从未由本版本 yibao 认领（claim_gen = 0 或没有 worker_id）且租约已过的行作同样判断，
-- 这里提前标记，是为了在代理启动前就让 HIS 和操作员看到结论和原因。可重复执行：已标记的行不再匹配。
-- Rows the original design left PROCESSING carry no worker, lease or attempt: nothing proves
-- they were not sent. State-changing ones (class other than read-only in the national
-- catalog, and codes it does not list) become UNCERTAIN, so no broker ever resends them;
-- read-only ones stay PROCESSING for the broker's recovery to requeue by the site's catalog
-- (a repeated query is harmless). The broker's recovery decides the same for any row this
-- yibao never claimed (claim_gen = 0 or no worker_id) whose lease is over; marking it here
-- shows the verdict and its reason to the HIS and operators before a broker starts. Like
-- the recovery, it ends the row's unfinished attempts (ABANDONED). Rerunnable: a marked row
-- no longer matches.
DECLARE @marked TABLE (request_id INT NOT NULL);
DECLARE @utc DATETIME;
DECLARE @now_ms BIGINT;
DECLARE @n INT;
-- 毫秒时间戳（与 lease_until 相同）；按分钟计算 DATEDIFF，2038 年后也不溢出
-- epoch milliseconds, as lease_until holds; DATEDIFF in minutes does not overflow in 2038
SET @utc = GETUTCDATE();
SET @now_ms = CAST(DATEDIFF(MINUTE, '19700101', @utc) AS BIGINT) * 60000
+ DATEPART(SECOND, @utc) * 1000 + DATEPART(MILLISECOND, @utc);
UPDATE dbo.medical_insurance_requests
SET
    status = 'UNCERTAIN',
    last_error = N'升级时发现：该请求处于 PROCESSING，但不是由本版本 yibao 认领的（原设计的程序或旧版本留下），无法证明未发送，结果不确定，请核对或冲正（yibao 不会重发）/ found when upgrading: this request was left PROCESSING without a claim of this yibao version (by the original design''s program or an older version); nothing proves it was not sent, so its outcome is unknown: reconcile or reverse it (yibao never resends it)',
    worker_id = NULL,
    lease_until = NULL,
    update_time = GETDATE()
OUTPUT inserted.request_id INTO @marked (request_id)
WHERE
    status = 'PROCESSING'
    AND (claim_gen <= 0 OR worker_id IS NULL)
    AND (lease_until IS NULL OR lease_until < @now_ms)
    -- 只读交易（与接口目录一致，tests/sql_scripts.rs 核对）。二进制排序规则：与代理服务查目录一样逐字匹配。
    -- The read-only codes, as in the national catalog (tests/sql_scripts.rs checks it).
    -- Binary collation: matched exactly, as the broker looks codes up in its catalog.
    -- read-only codes: begin
    AND interface_code COLLATE Latin1_General_BIN NOT IN (
        '1101', '1201', '1301', '1302', '1303', '1304', '1305', '1306', '1307', '1308',
        '1309', '1310', '1311', '1312', '1313', '1314', '1315', '1316', '1317', '1318',
        '1319', '1901', '2206', '2206A', '2303', '3101', '3102', '3201', '3202', '5201',
        '5203', '5204', '5205', '9001', '9101', '9102'
    );
-- read-only codes: end
UPDATE a
SET end_time = GETDATE(), outcome = 'ABANDONED'
FROM dbo.medical_insurance_attempts AS a
INNER JOIN @marked AS m ON a.request_id = m.request_id
WHERE a.outcome = 'SENDING';
SELECT @n = COUNT(*) FROM @marked;
IF @n > 0
    PRINT N'注意：' + CONVERT(NVARCHAR(12), @n)
    + N' 个遗留的处理中请求已标为 UNCERTAIN，请核对 / note: '
    + CONVERT(NVARCHAR(12), @n)
    + N' request(s) left PROCESSING are now UNCERTAIN: reconcile them';
GO

/* -----------------------------------------------------------------------------
   3d. 批量任务与目录 / batch jobs and catalogs（版本 4 / schema 4）
       medical_insurance_jobs：代理服务在请求之外执行的批量任务（目录下载、对账、签退），一行一个任务。
       像请求一样认领：租约（lease_until）加认领代数（claim_gen），多个代理共用一张表时每个任务只执行一次。
       HIS 可用 sp_medical_insurance_catalog_download、sp_medical_insurance_reconcile 插入任务并等待结果；
       定时任务（[[schedule]]）由代理插入。
       medical_insurance_catalog_rows：下载的目录文件，一行一条（原样保存，字段以制表符分隔，已按 UTF-8 解码）。
       medical_insurance_catalog_versions：每个目录当前所处的版本，下次从这里增量下载。
       medical_insurance_reconcile_diffs：对账（reconcile 任务）发现的差异，一行一条。
       medical_insurance_jobs: batch work the broker runs beside single requests (catalog
       downloads, reconciliation, sign-out), one row per job, claimed like a request (a
       lease and a claim generation), so several brokers on one table run each job once.
       The HIS inserts one and waits with sp_medical_insurance_catalog_download or
       sp_medical_insurance_reconcile; scheduled runs ([[schedule]]) are inserted by the
       broker. medical_insurance_catalog_rows: the lines of the downloaded catalog files,
       one row each, kept as received (tab-separated fields, decoded as UTF-8).
       medical_insurance_catalog_versions: the version each catalog holds, where the next
       incremental download starts. medical_insurance_reconcile_diffs: the differences a
       reconciliation (a reconcile job) found, one row each.
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.medical_insurance_jobs', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_jobs (
        job_id INT IDENTITY (1, 1) NOT NULL
        CONSTRAINT pk_medical_insurance_jobs PRIMARY KEY,
        -- catalog-download（目录下载）| reconcile（对账）| sign-out（签退）
        kind NVARCHAR(32) NOT NULL,
        -- 任务参数（JSON 文本），如 {"catalog":"1301"} / the job's parameters, JSON text
        params NVARCHAR(MAX) NOT NULL
        CONSTRAINT df_mij_params DEFAULT (N'{}'),
        -- 产生它的定时任务（[[schedule]] 的名称）；NULL = 按需插入 / the schedule that made it; NULL: on demand
        schedule_name NVARCHAR(100) NULL,
        -- 定时任务的时间段，如 2026-12-02T02:00 / the time slot it runs for
        slot NVARCHAR(32) NULL,
        -- PENDING（待认领）RUNNING（执行中）COMPLETED（完成）ERROR（失败）
        status NVARCHAR(16) NOT NULL
        CONSTRAINT df_mij_status DEFAULT (N'PENDING'),
        -- 持有该任务的代理进程 / the broker process holding it
        worker_id NVARCHAR(200) NULL,
        -- 毫秒时间戳，与 medical_insurance_requests.lease_until 相同 / epoch ms, as for requests
        lease_until BIGINT NULL,
        -- 认领代数（防护令牌），每次认领加一 / claim generation (fencing token), +1 per claim
        claim_gen INT NOT NULL
        CONSTRAINT df_mij_claim_gen DEFAULT (0),
        -- 任务做了什么（JSON 文本）/ what the job did, JSON text
        result NVARCHAR(MAX) NULL,
        err_msg NVARCHAR(2000) NULL,
        create_time DATETIME NOT NULL
        CONSTRAINT df_mij_create_time DEFAULT (GETDATE()),
        start_time DATETIME NULL,
        end_time DATETIME NULL
    );
END;
GO

-- 认领用的索引 / the index for claiming
IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE
        name = N'ix_mij_status'
        AND object_id = OBJECT_ID(N'dbo.medical_insurance_jobs')
)
    CREATE INDEX ix_mij_status
    ON dbo.medical_insurance_jobs (status, job_id);
GO

-- 每个定时任务的每个时间段至多一行，所以同一时间段绝不会执行两次（多个代理同时插入时由它兜底）。
-- 必须是筛选索引：按需任务的 schedule_name 都是 NULL，普通唯一索引只允许一个 NULL。
-- 与 ix_mir_status 不同，这里可以用筛选索引：这是新表，写它的只有代理服务（驱动以 ANSI 默认设置登录，
-- QUOTED_IDENTIFIER 为 ON）和本脚本以 QUOTED_IDENTIFIER ON 创建的 sp_medical_insurance_catalog_download
-- （它自己设置其余选项，调用方无需任何设置）。
-- HIS 若自己写这张表，须在 QUOTED_IDENTIFIER ON、ANSI_NULLS ON 下执行（ODBC、OLE DB、ADO.NET、SSMS、sqlcmd
-- 的默认值）；以 QUOTED_IDENTIFIER OFF 创建的存储过程写入会失败（错误 1934）。
-- 创建筛选索引要求下面这些 SET 选项（sqlcmd 默认即如此，除了 ARITHABORT：数据库兼容级别为 80 时须显式设置）。
-- At most one row per schedule and time slot, so a slot never runs twice (the backstop when
-- brokers insert at once). It must be filtered: on-demand jobs all hold NULL, and a plain
-- unique index admits one NULL. Unlike ix_mir_status it can be: the table is new, and only
-- the broker (whose driver logs in with the ANSI defaults, QUOTED_IDENTIFIER ON) and
-- sp_medical_insurance_catalog_download (created below with QUOTED_IDENTIFIER ON; it sets
-- the other options itself, so its callers need none) write it.
-- HIS code writing it itself must run with QUOTED_IDENTIFIER ON and ANSI_NULLS ON (the
-- defaults of ODBC, OLE DB, ADO.NET, SSMS and sqlcmd); a procedure created with
-- QUOTED_IDENTIFIER OFF fails to write it (error 1934). Creating a filtered index needs the
-- SET options below (sqlcmd's defaults, but for ARITHABORT, which compatibility level 80
-- needs set explicitly).
SET ANSI_NULLS ON;
SET ANSI_PADDING ON;
SET ANSI_WARNINGS ON;
SET ARITHABORT ON;
SET CONCAT_NULL_YIELDS_NULL ON;
SET QUOTED_IDENTIFIER ON;
SET NUMERIC_ROUNDABORT OFF;
IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE
        name = N'ux_mij_slot'
        AND object_id = OBJECT_ID(N'dbo.medical_insurance_jobs')
)
    CREATE UNIQUE INDEX ux_mij_slot
    ON dbo.medical_insurance_jobs (schedule_name, slot)
    WHERE schedule_name IS NOT NULL;
-- 兼容级别 80 时，ANSI_WARNINGS ON 不再隐含 ARITHABORT ON：写这张表的连接还须 SET ARITHABORT ON
-- At compatibility level 80, ANSI_WARNINGS ON no longer implies ARITHABORT ON: connections
-- writing this table also need SET ARITHABORT ON
IF EXISTS (
    SELECT 1 FROM sys.databases
    WHERE database_id = DB_ID() AND compatibility_level < 90
)
    PRINT N'注意：本数据库兼容级别低于 90，写 medical_insurance_jobs 的连接须 SET ARITHABORT ON（筛选索引 ux_mij_slot 的要求）/ note: this database''s compatibility level is below 90: connections writing medical_insurance_jobs need SET ARITHABORT ON (the filtered index ux_mij_slot requires it)';
GO

IF OBJECT_ID(N'dbo.medical_insurance_catalog_rows', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_catalog_rows (
        row_id BIGINT IDENTITY (1, 1) NOT NULL
        CONSTRAINT pk_medical_insurance_catalog_rows PRIMARY KEY,
        -- 目录的交易编号：1301、1302、1305、1306 … / the catalog's interface code
        catalog_code NVARCHAR(10) NOT NULL,
        -- 该行所属的版本 / the version the line belongs to
        ver_name NVARCHAR(100) NOT NULL,
        -- 在下载文件中的行号（从 1 开始）/ line number in the downloaded file, from 1
        row_no INT NOT NULL,
        -- 第一个字段：医保目录编码 / the first field: the 医保目录编码
        item_code NVARCHAR(100) NOT NULL,
        -- 整行原文，字段以制表符 CHAR(9) 分隔（用 dbo.yibao_catalog_field 取第 n 个字段）
        -- the whole line as received, fields separated by tabs (dbo.yibao_catalog_field reads the n-th)
        fields NVARCHAR(MAX) NOT NULL,
        -- 写入它的任务 / the job that loaded it
        job_id INT NULL,
        create_time DATETIME NOT NULL
        CONSTRAINT df_micr_create_time DEFAULT (GETDATE())
    );
END;
GO

-- 按目录和编码查找（也用于 v_medical_insurance_catalog_latest）/ look-ups by catalog and code (and the latest view)
IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE
        name = N'ix_micr_item'
        AND object_id = OBJECT_ID(N'dbo.medical_insurance_catalog_rows')
)
    CREATE INDEX ix_micr_item
    ON dbo.medical_insurance_catalog_rows (catalog_code, item_code);
GO

IF OBJECT_ID(N'dbo.medical_insurance_catalog_versions', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_catalog_versions (
        catalog_code NVARCHAR(10) NOT NULL
        CONSTRAINT pk_medical_insurance_catalog_versions PRIMARY KEY,
        -- 该目录已载入的最新版本 / the newest version loaded
        ver_name NVARCHAR(100) NOT NULL,
        -- 该目录在 medical_insurance_catalog_rows 中的总行数 / its rows in all
        row_count BIGINT NOT NULL
        CONSTRAINT df_micv_row_count DEFAULT (0),
        -- 最近一次载入的任务 / the job of the latest load
        job_id INT NULL,
        update_time DATETIME NOT NULL
        CONSTRAINT df_micv_update_time DEFAULT (GETDATE())
    );
END;
GO

-- 对账发现的差异，一行一条（3202 对账结果文件中的每一行，以及本地 UNCERTAIN 结算在平台上的结论）。
-- 代理服务每次执行 reconcile 任务时先删除该任务（job_id）原有的行再写入，所以任务被接管重跑后不会重复。
-- What a reconciliation found, one row each (each line of 3202's result file, and what the
-- platform shows of our UNCERTAIN settlements). Each run of a reconcile job deletes the
-- job's earlier rows before writing, so a job taken over and run again leaves no duplicates.
IF OBJECT_ID(N'dbo.medical_insurance_reconcile_diffs', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_reconcile_diffs (
        diff_id INT IDENTITY (1, 1) NOT NULL
        CONSTRAINT pk_medical_insurance_reconcile_diffs PRIMARY KEY,
        -- 产生它的对账任务（medical_insurance_jobs.job_id）/ the reconcile job that found it
        job_id INT NOT NULL,
        -- 对账日期 yyyy-MM-dd / the day reconciled, yyyy-MM-dd
        stmt_date NVARCHAR(10) NOT NULL,
        -- ONLY_OURS（医药机构有、中心无）| ONLY_PLATFORM（中心有、医药机构无）| AMOUNT_DIFFERS（金额不符）|
        -- UNCERTAIN_APPLIED（本地 UNCERTAIN 的结算平台已有：已生效）| UNCERTAIN_NOT_APPLIED（平台没有：未生效）|
        -- UNCERTAIN_UNKNOWN（无法判断，须向平台查询）| OTHER
        -- ONLY_OURS: we hold it, the centre does not; ONLY_PLATFORM: the reverse;
        -- AMOUNT_DIFFERS: the amounts differ; UNCERTAIN_APPLIED / UNCERTAIN_NOT_APPLIED: an
        -- UNCERTAIN settlement of ours took effect / did not; UNCERTAIN_UNKNOWN: the answer
        -- cannot tell (verify with a query); OTHER: a result line not understood
        kind NVARCHAR(32) NOT NULL,
        -- 结算 ID、就诊 ID、人员编号（平台或本地请求中的值）/ settlement, visit and person ids
        setl_id NVARCHAR(30) NULL,
        mdtrt_id NVARCHAR(30) NULL,
        psn_no NVARCHAR(30) NULL,
        -- 1 = 撤销（2208、2305），0 = 结算 / 1: a cancellation, 0: a settlement
        refd_setl_flag NVARCHAR(4) NULL,
        -- 平台的说明（哪项金额不符、双方的值）或代理服务的结论 / the platform's words, or the broker's verdict
        memo NVARCHAR(MAX) NULL,
        -- 本地对应的请求（medical_insurance_requests.request_id），没有时为 NULL / our request for it, when we have one
        request_id INT NULL,
        create_time DATETIME NOT NULL
        CONSTRAINT df_mird_create_time DEFAULT (GETDATE())
    );
END;
GO

-- 按任务读取（代理服务按 job_id 替换）/ read by job (the broker replaces a job's rows)
IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE
        name = N'ix_mird_job'
        AND object_id = OBJECT_ID(N'dbo.medical_insurance_reconcile_diffs')
)
    CREATE INDEX ix_mird_job
    ON dbo.medical_insurance_reconcile_diffs (job_id);
GO

-- 按对账日期查找 / look-ups by the day reconciled
IF NOT EXISTS (
    SELECT 1 FROM sys.indexes
    WHERE
        name = N'ix_mird_date'
        AND object_id = OBJECT_ID(N'dbo.medical_insurance_reconcile_diffs')
)
    CREATE INDEX ix_mird_date
    ON dbo.medical_insurance_reconcile_diffs (stmt_date);
GO

/* -----------------------------------------------------------------------------
   4. 设置表（由 DBA 维护，存储过程读取）/ settings (kept by the DBA, read by the procedures)
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.medical_insurance_settings', N'U') IS NULL
BEGIN
    CREATE TABLE dbo.medical_insurance_settings (
        name VARCHAR(50) NOT NULL
        CONSTRAINT pk_medical_insurance_settings PRIMARY KEY,
        value NVARCHAR(400) NULL,
        note NVARCHAR(400) NULL
    );
END;
GO

-- 只补缺少的设置，不覆盖 DBA 改过的值（schema_version 在脚本末尾记录）
-- insert missing settings only, never overwrite the DBA's values (schema_version is
-- recorded at the end of the script)
INSERT INTO dbo.medical_insurance_settings (name, value, note)
SELECT
    s.name,
    s.value,
    s.note
FROM (
    SELECT
        'shim_path' AS name,
        N'C:\yibao\yibao-call.exe' AS value,
        N'shim 模式调用的程序完整路径 / full path of yibao-call.exe for mode shim' AS note
    UNION ALL
    SELECT
        'default_mode',
        N'poll',
        N'poll（纯 T-SQL 等待，无需 xp_cmdshell）或 shim / poll (pure T-SQL, no xp_cmdshell) or shim'
    UNION ALL
    SELECT
        'default_timeout_s',
        N'30',
        N'同步调用默认等待秒数 / seconds a sync call waits by default'
    UNION ALL
    SELECT
        'poll_delay',
        N'00:00:00.050',
        N'poll 模式两次查看之间的最长间隔（从 5 ms 起逐渐增加）/ longest pause between looks in mode poll (starts at 5 ms and grows)'
) AS s
WHERE NOT EXISTS (
    SELECT 1 FROM dbo.medical_insurance_settings AS t
    WHERE t.name = s.name
);
GO

/* -----------------------------------------------------------------------------
   5. 结果视图（包含原设计的全部列）/ the result view (every column of the original design)
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.v_medical_insurance_result', N'V') IS NULL
    EXEC (N'CREATE VIEW dbo.v_medical_insurance_result AS SELECT 1 AS request_id');
GO

ALTER VIEW dbo.v_medical_insurance_result
AS
SELECT
    r.request_id,
    r.interface_code,
    r.input_data,
    r.status,
    r.create_time AS request_time,
    r.retry_count,
    resp.response_data,
    resp.infcode,
    COALESCE(resp.err_msg, r.last_error) AS err_msg,
    resp.create_time AS response_time,
    r.msgid,
    r.update_time,
    resp.origin AS response_origin
FROM dbo.medical_insurance_requests AS r
LEFT JOIN dbo.medical_insurance_responses AS resp
    ON r.request_id = resp.request_id;
GO

/* -----------------------------------------------------------------------------
   6. 内部：等待请求结束（不返回结果集）/ internal: wait for a request to end (no result set)
      返回 / returns: 0 已结束 ended, 4 超时 timed out, 6 请求不存在 no such request
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.yibao_wait_for_status', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.yibao_wait_for_status AS RETURN 0');
GO

ALTER PROCEDURE dbo.yibao_wait_for_status
    @request_id INT,
    @timeout_s INT,
    @status VARCHAR(20) OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    -- 调用方没有打开的事务时，不让循环中的 SELECT 隐式开启事务（SNAPSHOT 隔离级别下它会一直读到
    -- 第一次的快照，看不到代理服务的更新）。过程返回后恢复调用方的设置。
    -- With no transaction open at entry, keep the loop's SELECTs from opening one under
    -- IMPLICIT_TRANSACTIONS (under SNAPSHOT isolation it would keep reading its first
    -- snapshot and never see the broker's update). The caller's setting is restored on return.
    IF @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 2 SET IMPLICIT_TRANSACTIONS OFF;
    DECLARE @deadline DATETIME;
    DECLARE @delay VARCHAR(12);
    DECLARE @cap_ms INT;
    DECLARE @wait_ms INT;
    DECLARE @wait DATETIME;
    DECLARE @looks INT;
    SET @deadline = DATEADD(SECOND, @timeout_s, GETDATE());
    SELECT @delay = CONVERT(VARCHAR(12), value)
    FROM dbo.medical_insurance_settings
    WHERE name = 'poll_delay';
    -- 先短后长：前 100 ms 每 5 ms 查看一次（按主键读一行），之后每次增加一半，最长 poll_delay
    -- （默认 50 ms）。多数调用在几十毫秒内结束，固定的长间隔会让每次调用白等；较慢的调用每秒最多
    -- 查约 20 次。
    -- Short first, then longer: every 5 ms for the first 100 ms (one row read by its key),
    -- then half as much again each time, up to poll_delay (default 50 ms). Most calls end
    -- within tens of milliseconds, where a fixed long pause would be dead time; a slow call
    -- is looked at no more than ~20 times a second.
    SET @cap_ms = 50;
    IF ISDATE(@delay) = 1
        SET @cap_ms = DATEDIFF(MILLISECOND, 0, CAST(@delay AS DATETIME));
    IF @cap_ms < 5 OR @cap_ms > 60000 SET @cap_ms = 50;
    SET @wait_ms = 5;
    SET @looks = 0;
    WHILE 1 = 1
    BEGIN
        SET @status = NULL;
        SELECT @status = status
        FROM dbo.medical_insurance_requests
        WHERE request_id = @request_id;
        IF @status IS NULL RETURN 6;
        IF @status IN ('COMPLETED', 'ERROR', 'UNCERTAIN', 'REVERSED') RETURN 0;
        IF GETDATE() >= @deadline RETURN 4;
        SET @wait = DATEADD(MILLISECOND, @wait_ms, 0);
        WAITFOR DELAY @wait;
        SET @looks = @looks + 1;
        IF @looks >= 20 SET @wait_ms = @wait_ms + @wait_ms / 2;
        IF @wait_ms > @cap_ms SET @wait_ms = @cap_ms;
    END;
    RETURN 4;
END;
GO

/* -----------------------------------------------------------------------------
   6a. 内部：取消仍为 PENDING 的请求（原子操作，之后绝不会发送）
       internal: cancel a request that is still PENDING (atomic; it is never sent after)
       与代理服务的取消相同（yibao-call cancel）：状态改为 ERROR，原因即下面的文字。
       The same as the broker's cancel (yibao-call cancel): ERROR with the text below,
       which is the broker's CANCELLED_REASON (tests/sql_scripts.rs checks they agree).
       返回 / returns: 0 已取消 cancelled; 6 未取消 not cancelled (@status = 当前状态 the
       current state: claimed or finished meanwhile; NULL = 请求不存在 no such request)
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.yibao_cancel_pending', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.yibao_cancel_pending AS RETURN 0');
GO

ALTER PROCEDURE dbo.yibao_cancel_pending
    @request_id INT,
    @status VARCHAR(20) OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    UPDATE dbo.medical_insurance_requests
    SET
        status = 'ERROR',
        last_error = N'已取消，未发送（调用方已放弃） / cancelled, never sent (the caller gave up)',
        worker_id = NULL,
        lease_until = NULL,
        update_time = GETDATE()
    WHERE request_id = @request_id AND status = 'PENDING';
    IF @@ROWCOUNT = 1
    BEGIN
        SET @status = 'ERROR';
        RETURN 0;
    END;
    SET @status = NULL;
    SELECT @status = status
    FROM dbo.medical_insurance_requests
    WHERE request_id = @request_id;
    RETURN 6;
END;
GO

/* -----------------------------------------------------------------------------
   7. sp_medical_insurance_result：读取一个请求的结果 / read one request's result
      返回值与 yibao-call 退出码一致 / return value matches yibao-call's exit codes:
      0 完成 COMPLETED, 1 业务错误 ERROR/REVERSED, 2 结果不确定 UNCERTAIN,
      4 尚未结束 not finished yet, 6 请求不存在 no such request
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.sp_medical_insurance_result', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.sp_medical_insurance_result AS RETURN 0');
GO

ALTER PROCEDURE dbo.sp_medical_insurance_result
    @request_id INT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @status VARCHAR(20);
    SELECT @status = status
    FROM dbo.medical_insurance_requests
    WHERE request_id = @request_id;
    SELECT
        request_id,
        interface_code,
        input_data,
        status,
        request_time,
        retry_count,
        response_data,
        infcode,
        err_msg,
        response_time,
        msgid,
        update_time,
        response_origin
    FROM dbo.v_medical_insurance_result
    WHERE request_id = @request_id;
    RETURN CASE
        WHEN @status IS NULL THEN 6
        WHEN @status = 'COMPLETED' THEN 0
        WHEN @status IN ('ERROR', 'REVERSED') THEN 1
        WHEN @status = 'UNCERTAIN' THEN 2
        ELSE 4
    END;
END;
GO

/* -----------------------------------------------------------------------------
   8. sp_medical_insurance_wait：等待请求结束（最多 @timeout_s 秒）并返回结果行
      wait up to @timeout_s seconds for a request to end, then return its row
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.sp_medical_insurance_wait', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.sp_medical_insurance_wait AS RETURN 0');
GO

ALTER PROCEDURE dbo.sp_medical_insurance_wait
    @request_id INT,
    @timeout_s INT = 30
AS
BEGIN
    SET NOCOUNT ON;
    -- 同 yibao_wait_for_status：没有打开的事务时不隐式开启事务 / as in yibao_wait_for_status
    IF @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 2 SET IMPLICIT_TRANSACTIONS OFF;
    DECLARE @status VARCHAR(20);
    DECLARE @rc INT;
    IF @timeout_s IS NULL OR @timeout_s < 0 SET @timeout_s = 30;
    EXEC @rc = dbo.yibao_wait_for_status @request_id, @timeout_s, @status OUTPUT;
    EXEC @rc = dbo.sp_medical_insurance_result @request_id;
    RETURN @rc;
END;
GO

/* -----------------------------------------------------------------------------
   9. sp_medical_insurance_call：HIS 调用医保接口的入口（参数与原设计一致）
      the HIS's entry point (the original design's parameters, plus optional ones)

   先插入请求行，再：
     @async = 1：立即返回 @result_id（shim 模式会顺便通知代理服务立即处理）；
     @async = 0：等待结束（最多 @timeout_s 秒），@result_data 为应答 JSON。
   @mode：'poll' = 纯 T-SQL 等待（不需要 xp_cmdshell）；'shim' = 经 xp_cmdshell 运行 yibao-call。
   拼出的命令行只包含设置表中的程序路径和本过程生成的整数，从不包含调用方数据。
   返回值与 yibao-call 退出码一致：0 完成，1 业务错误，2 结果不确定，3 代理服务未处理（可能未运行），
   4 等待超时（请求仍在处理，之后用 sp_medical_insurance_wait 取结果），5 参数错误。

   截止时间：同步调用写入 expires_at = 现在 + @timeout_s + 5 秒，过期仍未发出的请求永不发送（即使本过程
   被客户端超时中断，来不及取消）。等待结束时请求仍为 PENDING，则原子地取消它（ERROR“已取消”，永不发送）
   并返回 3，收费员可以放心重试；若代理服务恰在此时认领了它，则按它的实际状态返回（处理中为 4）。
   异步调用可用 @expires_s 给出截止时间（秒）。
   事务：只看进入时是否有打开的事务。同步调用在打开的事务中被拒绝（返回 5）；没有打开的事务时，
   即使 IMPLICIT_TRANSACTIONS 为 ON，本过程的插入也立即提交，代理服务才能看到。异步调用的插入属于调用方
   的事务（IMPLICIT_TRANSACTIONS 为 ON 时即它开启的事务）：调用方提交后才会发送，回滚则永不发送。

   Inserts the row first, then: @async = 1 returns @result_id at once (mode shim also tells
   the broker to start now); @async = 0 waits up to @timeout_s seconds and returns the
   response JSON in @result_data. @mode 'poll' waits in pure T-SQL (no xp_cmdshell); 'shim'
   runs yibao-call through xp_cmdshell. The command line holds only the path from the
   settings table and integers this procedure produced, never caller data. Return value =
   yibao-call's exit codes: 0 done, 1 business error, 2 uncertain, 3 not picked up (broker
   not running?), 4 still running after @timeout_s, 5 bad arguments.

   Deadline: a sync call writes expires_at = now + @timeout_s + 5 s, after which the row is
   never sent (even when a client's command timeout stopped this procedure before it could
   cancel). A row still PENDING when the wait ends is cancelled atomically (ERROR
   "cancelled", never sent) and 3 is returned, so the cashier may safely retry; if the
   broker claimed it just then, its real state is returned instead (4 while processing).
   Async calls may set a deadline in seconds with @expires_s.
   Transactions: only a transaction open at entry counts. A sync call inside one is refused
   (5); with none open, the insert commits at once even under IMPLICIT_TRANSACTIONS ON, so
   the broker sees it. An async call's insert belongs to the caller's transaction (with
   IMPLICIT_TRANSACTIONS ON, the one it opens): sent once the caller commits, never if it
   rolls back.
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.sp_medical_insurance_call', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.sp_medical_insurance_call AS RETURN 0');
GO

ALTER PROCEDURE dbo.sp_medical_insurance_call
    @interface_code VARCHAR(10),
    @input_data NVARCHAR(MAX),
    @async BIT = 1,
    @result_id INT = NULL OUTPUT,
    @result_data NVARCHAR(MAX) = NULL OUTPUT,
    @timeout_s INT = NULL,
    @mode VARCHAR(10) = NULL,
    @opter NVARCHAR(50) = NULL,
    @opter_name NVARCHAR(50) = NULL,
    @insuplc_admdvs VARCHAR(10) = NULL,
    @mdtrtarea_admvs VARCHAR(10) = NULL,
    @expires_s INT = NULL
AS
BEGIN
    SET NOCOUNT ON;
    -- 调用方的事务状态，在访问任何表之前记下（IMPLICIT_TRANSACTIONS 为 ON 时第一条读表的 SELECT
    -- 就会开启事务）/ the caller's transaction state, taken before any table is read (under
    -- IMPLICIT_TRANSACTIONS ON the first SELECT from a table opens a transaction)
    DECLARE @entry_trancount INT;
    DECLARE @implicit INT;
    SET @entry_trancount = @@TRANCOUNT;
    SET @implicit = @@OPTIONS & 2;
    DECLARE @status VARCHAR(20);
    DECLARE @rc INT;
    DECLARE @cancelled BIT;
    DECLARE @shim NVARCHAR(400);
    DECLARE @cmd VARCHAR(600);
    DECLARE @expires_at DATETIME;

    SET @result_id = NULL;
    SET @result_data = NULL;
    IF @async IS NULL SET @async = 1;

    -- 未提交的请求行代理服务看不到，同步等待只会超时 / the broker cannot see an uncommitted row
    IF @async = 0 AND @entry_trancount > 0
    BEGIN
        IF @implicit = 2
            RAISERROR (N'同步调用不能在未提交的事务中执行：本连接的 IMPLICIT_TRANSACTIONS 为 ON，之前的语句已隐式开启了事务。请先 COMMIT，或使用 @async = 1 / a sync call cannot run inside an open transaction: IMPLICIT_TRANSACTIONS is ON for this connection and an earlier statement opened one; COMMIT first, or use @async = 1', 16, 1);
        ELSE
            RAISERROR (N'同步调用不能在未提交的事务中执行：请在事务外调用，或使用 @async = 1 / a sync call cannot run inside an open transaction: call it outside, or use @async = 1', 16, 1);
        RETURN 5;
    END;
    -- 没有打开的事务：本过程的每条语句各自提交，插入的行代理服务立即可见（过程返回后恢复调用方的设置）
    -- None open: every statement here commits on its own, so the broker sees the row at once
    -- (the caller's setting is restored when the procedure returns)
    IF @async = 0 AND @implicit = 2 SET IMPLICIT_TRANSACTIONS OFF;

    IF @mode IS NULL
        SELECT @mode = CONVERT(VARCHAR(10), value)
        FROM dbo.medical_insurance_settings
        WHERE name = 'default_mode';
    IF @mode IS NULL SET @mode = 'poll';
    IF @mode NOT IN ('poll', 'shim')
    BEGIN
        RAISERROR (N'@mode 只能是 poll 或 shim / @mode must be poll or shim', 16, 1);
        RETURN 5;
    END;
    IF @timeout_s IS NULL
        SELECT @timeout_s = CONVERT(INT, value)
        FROM dbo.medical_insurance_settings
        WHERE name = 'default_timeout_s';
    IF @timeout_s IS NULL OR @timeout_s < 1 SET @timeout_s = 30;
    IF @interface_code IS NULL OR LTRIM(RTRIM(@interface_code)) = '' OR @input_data IS NULL
    BEGIN
        RAISERROR (N'@interface_code 与 @input_data 不能为空 / @interface_code and @input_data are required', 16, 1);
        RETURN 5;
    END;
    IF @expires_s IS NOT NULL AND (@async = 0 OR @expires_s < 1)
    BEGIN
        RAISERROR (N'@expires_s 只用于异步调用，且须大于 0（同步调用的截止时间由 @timeout_s 决定）/ @expires_s is for async calls only and must be above 0 (a sync call''s deadline follows @timeout_s)', 16, 1);
        RETURN 5;
    END;
    IF @mode = 'shim'
    BEGIN
        SELECT @shim = value
        FROM dbo.medical_insurance_settings
        WHERE name = 'shim_path';
        IF @shim IS NULL OR CHARINDEX('"', @shim) > 0
        BEGIN
            RAISERROR (N'设置 shim_path 缺失或含双引号 / setting shim_path is missing or contains a double quote', 16, 1);
            RETURN 5;
        END;
    END;

    -- 截止时间；同步调用比等待多 5 秒，等待结束时的取消总是先于过期
    -- the deadline; a sync call's is 5 s past the wait, so the cancel at its end comes first
    IF @async = 0
        SET @expires_at = DATEADD(SECOND, 5, DATEADD(SECOND, @timeout_s, GETDATE()));
    ELSE IF @expires_s IS NOT NULL
        SET @expires_at = DATEADD(SECOND, @expires_s, GETDATE());

    INSERT INTO dbo.medical_insurance_requests (
        interface_code, input_data, opter, opter_name, insuplc_admdvs, mdtrtarea_admvs,
        expires_at
    )
    VALUES (
        @interface_code, @input_data, @opter, @opter_name, @insuplc_admdvs, @mdtrtarea_admvs,
        @expires_at
    );
    SET @result_id = CONVERT(INT, SCOPE_IDENTITY());

    -- 只有已提交的行才通知代理：事务中的行它读不到，还会等在这一行的锁上
    -- Tell the broker only about a committed row: one inside a transaction it cannot read,
    -- and it would wait on the row's lock
    IF @mode = 'shim' AND @@TRANCOUNT = 0
    BEGIN
        -- 只有路径和整数 / only the path and integers
        IF @async = 1
            SET @cmd = '"' + CONVERT(VARCHAR(400), @shim) + '" kick '
            + CONVERT(VARCHAR(12), @result_id);
        ELSE
            SET @cmd = '"' + CONVERT(VARCHAR(400), @shim) + '" run '
            + CONVERT(VARCHAR(12), @result_id)
            + ' --wait ' + CONVERT(VARCHAR(12), @timeout_s);
        EXEC @rc = master.dbo.xp_cmdshell @cmd, NO_OUTPUT;
    END;

    IF @async = 1 RETURN 0;

    IF @mode = 'poll'
        EXEC @rc = dbo.yibao_wait_for_status @result_id, @timeout_s, @status OUTPUT;

    SET @status = NULL;
    SELECT @status = status
    FROM dbo.medical_insurance_requests
    WHERE request_id = @result_id;
    -- 仍是 PENDING：没有代理服务认领。原子地取消（之后绝不发送）；若恰被认领，@status 为实际状态
    -- Still PENDING: no broker picked it up. Cancel it atomically (never sent after); if a
    -- broker claimed it just now, @status is its real state
    SET @cancelled = 0;
    IF @status = 'PENDING'
    BEGIN
        EXEC @rc = dbo.yibao_cancel_pending @result_id, @status OUTPUT;
        IF @rc = 0 SET @cancelled = 1;
    END;

    SELECT @result_data = response_data
    FROM dbo.v_medical_insurance_result
    WHERE request_id = @result_id;

    RETURN CASE
        WHEN @cancelled = 1 THEN 3
        WHEN @status = 'COMPLETED' THEN 0
        WHEN @status IN ('ERROR', 'REVERSED') THEN 1
        WHEN @status = 'UNCERTAIN' THEN 2
        WHEN @status = 'PENDING' THEN 3
        ELSE 4
    END;
END;
GO

/* -----------------------------------------------------------------------------
   9a. sp_medical_insurance_cancel：取消仍为 PENDING 的请求（HIS 程序与操作员用），之后绝不会发送
       cancel a request that is still PENDING (for HIS code and operators); it is never sent
       返回值与 yibao-call cancel 一致 / return value as yibao-call cancel's exit code:
       0 已取消 cancelled（ERROR“已取消”）; 5 参数错误 bad arguments;
       6 未取消 not cancelled：已被代理服务认领、已结束或不存在（@status 为当前状态，不存在时为 NULL）
         already claimed, finished or missing (@status: its state, NULL when missing)
       没有打开的事务时取消立即提交（即使 IMPLICIT_TRANSACTIONS 为 ON），返回 0 后断开连接也不会撤销；
       在调用方的事务中则随该事务提交或回滚。
       With no transaction open it commits at once (even under IMPLICIT_TRANSACTIONS ON), so
       a 0 stays true whatever the connection does next; inside the caller's transaction it
       commits or rolls back with it.
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.sp_medical_insurance_cancel', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.sp_medical_insurance_cancel AS RETURN 0');
GO

ALTER PROCEDURE dbo.sp_medical_insurance_cancel
    @request_id INT,
    @status VARCHAR(20) = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    DECLARE @rc INT;
    IF @@TRANCOUNT = 0 AND (@@OPTIONS & 2) = 2 SET IMPLICIT_TRANSACTIONS OFF;
    SET @status = NULL;
    IF @request_id IS NULL
    BEGIN
        RAISERROR (N'@request_id 不能为空 / @request_id is required', 16, 1);
        RETURN 5;
    END;
    EXEC @rc = dbo.yibao_cancel_pending @request_id, @status OUTPUT;
    -- 未取消：提示当前状态（信息级别，不是错误）/ not cancelled: say why (informational)
    IF @rc <> 0 AND @status IS NULL
        RAISERROR (N'未取消：请求 %d 不存在 / not cancelled: there is no request %d', 10, 1, @request_id, @request_id);
    ELSE IF @rc <> 0
        RAISERROR (N'未取消：请求 %d 已被代理服务认领或已结束，当前状态 %s / not cancelled: request %d is already claimed or finished, now %s', 10, 1, @request_id, @status, @request_id, @status);
    RETURN @rc;
END;
GO

/* -----------------------------------------------------------------------------
   10. sp_medical_insurance_fields：以行返回一个请求的输出字段（不需要 JSON 函数）
       return a request's output fields as rows (no JSON functions needed)
       @path 为 NULL 时返回全部字段 / all fields when @path is NULL
       返回值 / return value: 0 有字段 rows found, 1 没有 none
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.sp_medical_insurance_fields', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.sp_medical_insurance_fields AS RETURN 0');
GO

ALTER PROCEDURE dbo.sp_medical_insurance_fields
    @request_id INT,
    @path NVARCHAR(200) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SELECT
        request_id,
        path,
        row_index,
        value
    FROM dbo.medical_insurance_response_fields
    WHERE
        request_id = @request_id
        AND (@path IS NULL OR path = @path)
    ORDER BY path, row_index;
    RETURN CASE WHEN @@ROWCOUNT > 0 THEN 0 ELSE 1 END;
END;
GO

/* -----------------------------------------------------------------------------
   11. fn_medical_insurance_field：取一个输出字段的值，便于在 SELECT/赋值中直接使用
       one output value, for use inside SELECT or SET, e.g.
       SET @setl_id = dbo.fn_medical_insurance_field(@id, N'setlinfo.setl_id', 0);
       不存在时为 NULL / NULL when absent
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.fn_medical_insurance_field', N'FN') IS NULL
    EXEC (
        N'CREATE FUNCTION dbo.fn_medical_insurance_field (@request_id INT) '
        + N'RETURNS NVARCHAR(MAX) AS BEGIN RETURN NULL END'
    );
GO

ALTER FUNCTION dbo.fn_medical_insurance_field (
    @request_id INT,
    @path NVARCHAR(200),
    @row_index INT
)
RETURNS NVARCHAR(MAX)
AS
BEGIN
    DECLARE @value NVARCHAR(MAX);
    SELECT @value = value
    FROM dbo.medical_insurance_response_fields
    WHERE
        request_id = @request_id
        AND path = @path
        AND row_index = ISNULL(@row_index, 0);
    RETURN @value;
END;
GO

/* -----------------------------------------------------------------------------
   11a. yibao_catalog_field：目录行的第 n 个字段（从 1 开始，字段以制表符分隔）；没有该字段时为 NULL，
        空字段为 N''。不用 STRING_SPLIT（2016 起才有），SQL Server 2008 R2 也能用；确定性函数（SCHEMABINDING，
        不读任何表）。各目录的字段顺序见国家医保接口文档（如 1301 第 1 个为医保目录编码）。
        the n-th field (from 1) of a catalog line, fields separated by tabs; NULL when the
        line has no such field, N'' for an empty one. No STRING_SPLIT (2016 and later), so
        it runs on 2008 R2; deterministic (SCHEMABINDING, reads no table). Each catalog's
        field order is in the national interface documents (the first is always the
        医保目录编码).
        例 / e.g.:
        SELECT item_code, dbo.yibao_catalog_field(fields, 2) AS 名称
        FROM medical_insurance_catalog_rows WHERE catalog_code = '1301'
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.yibao_catalog_field', N'FN') IS NULL
    EXEC (
        N'CREATE FUNCTION dbo.yibao_catalog_field (@fields NVARCHAR(MAX)) '
        + N'RETURNS NVARCHAR(MAX) AS BEGIN RETURN NULL END'
    );
GO

ALTER FUNCTION dbo.yibao_catalog_field (
    @fields NVARCHAR(MAX),
    @n INT
)
RETURNS NVARCHAR(MAX)
WITH SCHEMABINDING
AS
BEGIN
    -- CHARINDEX 在 NVARCHAR(MAX) 中返回 BIGINT / CHARINDEX returns BIGINT on NVARCHAR(MAX)。
    -- 查找和截取都用二进制排序规则：逐个 UTF-16 单元比较（快，且不受数据库排序规则影响，例如 _SC 排序规则
    -- 按字符而 DATALENGTH 按单元计数），制表符只匹配制表符。
    -- Searching and cutting both in a binary collation: UTF-16 units compared one by one
    -- (fast, and whatever the database's collation: an _SC one would count characters where
    -- DATALENGTH counts units), and a tab matches only a tab.
    DECLARE @start BIGINT;
    DECLARE @tab BIGINT;
    DECLARE @i INT;
    IF @fields IS NULL OR @n IS NULL OR @n < 1 RETURN NULL;
    -- 跳过前 n - 1 个制表符 / skip n - 1 tabs
    SET @start = 1;
    SET @i = 1;
    WHILE @i < @n
    BEGIN
        SET @tab = CHARINDEX(NCHAR(9), @fields COLLATE Latin1_General_BIN2, @start);
        IF @tab = 0 RETURN NULL;
        SET @start = @tab + 1;
        SET @i = @i + 1;
    END;
    SET @tab = CHARINDEX(NCHAR(9), @fields COLLATE Latin1_General_BIN2, @start);
    -- 最后一个字段到行尾（DATALENGTH 而不是 LEN：LEN 不计结尾的空格）
    -- the last field runs to the end (DATALENGTH, not LEN: LEN leaves out trailing spaces)
    IF @tab = 0 SET @tab = DATALENGTH(@fields) / 2 + 1;
    RETURN SUBSTRING(@fields COLLATE Latin1_General_BIN2, @start, @tab - @start);
END;
GO

/* -----------------------------------------------------------------------------
   11b. v_medical_insurance_catalog_latest：每个目录的每个编码取最新的一行（row_id 最大，即最后载入的版本）。
        增量下载会为同一编码追加新版本的行，旧行保留；要最新内容时读这个视图。是否有效（有效标志等）
        请按该目录的字段自行判断。按 catalog_code 筛选时使用索引 ix_micr_item。
        the newest row (highest row_id: the version loaded last) of each code in each
        catalog. An incremental download appends a newer version's row for a code and keeps
        the old ones; read this view for the current content. Whether an item is still
        valid (its validity flag, …) is up to the catalog's own fields. A filter on
        catalog_code uses index ix_micr_item.
        例 / e.g.:
        SELECT item_code, dbo.yibao_catalog_field(fields, 2) AS 名称, ver_name
        FROM v_medical_insurance_catalog_latest WHERE catalog_code = '1301'
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.v_medical_insurance_catalog_latest', N'V') IS NULL
    EXEC (N'CREATE VIEW dbo.v_medical_insurance_catalog_latest AS SELECT 1 AS row_id');
GO

ALTER VIEW dbo.v_medical_insurance_catalog_latest
AS
SELECT
    x.catalog_code,
    x.item_code,
    x.ver_name,
    x.fields,
    x.row_id,
    x.create_time
FROM (
    SELECT
        r.catalog_code,
        r.item_code,
        r.ver_name,
        r.fields,
        r.row_id,
        r.create_time,
        ROW_NUMBER() OVER (
            PARTITION BY r.catalog_code, r.item_code
            -- 后写入的任务在后；同一文件内按行号（多行 INSERT 不保证 row_id 的顺序）
            -- a later load first; within one file by line (a multi-row INSERT does not
            -- promise row_id order)
            ORDER BY r.job_id DESC, r.row_no DESC, r.row_id DESC
        ) AS rn
    FROM dbo.medical_insurance_catalog_rows AS r
) AS x
WHERE x.rn = 1;
GO

/* -----------------------------------------------------------------------------
   11c. sp_medical_insurance_catalog_download：下载一个医保目录（1301–1315 中以文件应答的）到 medical_insurance_catalog_rows
        download a 医保 catalog (the file ones of 1301–1315) into medical_insurance_catalog_rows

   在 medical_insurance_jobs 中插入一个 catalog-download 任务，然后用纯 T-SQL（WAITFOR DELAY，不需要 xp_cmdshell）
   等待它结束，最多 @wait_seconds 秒（0 = 不等待，只返回 @job_id）。代理服务定时查找 PENDING 任务、认领并执行：
   从 medical_insurance_catalog_versions 中记录的版本增量下载（首次为全量；目录还没有版本时可用 @ver_name 指定起点，即接口的 ver；
   已有版本后 @ver_name 只能等于该版本，否则任务以 ERROR 结束——从更早的版本下载会重复写入），
   新行追加到 medical_insurance_catalog_rows，版本记入 medical_insurance_catalog_versions。
   同一目录重复调用是安全的：载入按版本比较后再写（compare-and-set），同一批行不会载入两次。
   @ver_name：1 到 64 个字符，只能是字母、数字和 . _ -（原样放进 JSON，无需转义）。
   返回值（与 yibao-call 退出码的含义一致）：0 完成 COMPLETED；1 失败 ERROR（原因见 @err_msg）；
   4 等待结束时仍未完成（@status 为 PENDING：还没有代理服务认领，代理服务在运行吗？RUNNING：正在下载），
     任务留在表中，之后由代理服务完成，不要重复调用，稍后读 medical_insurance_jobs；
   5 参数错误；6 任务行在等待期间被删除。
   事务：@wait_seconds > 0 时不能在打开的事务中调用（代理服务看不到未提交的任务，只会等到超时，返回 5）；
   没有打开的事务时，即使 IMPLICIT_TRANSACTIONS 为 ON，插入也立即提交。@wait_seconds = 0 时插入属于调用方
   的事务：提交后才会执行，回滚则不执行。
   完成时 @result 为 JSON，例如：
     {"catalog":"1301","from_ver":"20261101-001","ver_name":"20261105-005","rows":300,"total":12300,
      "requests":[41,42],"file_id":9}
   即：从哪个版本开始（from_ver）、载入后所处的版本（ver_name）、本次新增行数（rows）、该目录总行数（total）、
   为此发出的请求（medical_insurance_requests 的 request_id）和下载的文件（medical_insurance_files 的 file_id）。

   用法 / usage:
     DECLARE @rc INT, @job_id INT, @status NVARCHAR(16), @result NVARCHAR(MAX), @err NVARCHAR(2000);
     EXEC @rc = dbo.sp_medical_insurance_catalog_download
         @catalog_code = N'1301', @wait_seconds = 600,
         @job_id = @job_id OUTPUT, @status = @status OUTPUT,
         @result = @result OUTPUT, @err_msg = @err OUTPUT;
     SELECT @rc AS rc, @job_id AS job_id, @status AS status, @result AS result, @err AS err_msg;

   Inserts a catalog-download job into medical_insurance_jobs, then waits in pure T-SQL
   (WAITFOR DELAY, no xp_cmdshell) up to @wait_seconds seconds for it to end (0: no wait,
   just the @job_id). The broker looks for PENDING jobs, claims and runs them: it downloads
   from the version medical_insurance_catalog_versions holds (everything the first time;
   from @ver_name, the interface's ver, before a catalog has a version; once it has one, a
   different @ver_name ends the job ERROR, since it would load lines again), appends the new lines to medical_insurance_catalog_rows and
   records the version. Calling again for the same catalog is safe: a load is a
   compare-and-set on the version, so no batch of lines is loaded twice. @ver_name: 1 to
   64 characters, letters, digits and . _ - only (it goes into the JSON unescaped).
   Return value (meaning as yibao-call's exit codes): 0 COMPLETED; 1 ERROR (@err_msg says
   why); 4 not finished when the wait ended (@status PENDING: no broker has claimed it —
   is one running? RUNNING: downloading): the job stays and a broker finishes it; do not
   call again, read medical_insurance_jobs later; 5 bad arguments; 6 the job row was
   deleted while waiting. Transactions: with @wait_seconds > 0 it refuses to run inside an
   open transaction (5: the broker cannot see an uncommitted job, the wait could only time
   out); with none open the insert commits at once, even under IMPLICIT_TRANSACTIONS ON.
   With @wait_seconds = 0 the insert belongs to the caller's transaction: run once it
   commits, never if it rolls back. On success @result is the JSON above: the version it
   started from, the version held after the load, the lines added, the catalog's lines in
   all, the requests it made (request_id) and the file it downloaded (file_id).
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.sp_medical_insurance_catalog_download', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.sp_medical_insurance_catalog_download AS RETURN 0');
GO

ALTER PROCEDURE dbo.sp_medical_insurance_catalog_download
    @catalog_code NVARCHAR(10),
    @ver_name NVARCHAR(100) = NULL,
    @wait_seconds INT = 600,
    @job_id INT = NULL OUTPUT,
    @status NVARCHAR(16) = NULL OUTPUT,
    @result NVARCHAR(MAX) = NULL OUTPUT,
    @err_msg NVARCHAR(2000) = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    -- 调用方的事务状态，在访问任何表之前记下（同 sp_medical_insurance_call）
    -- the caller's transaction state, taken before any table is read (as in sp_medical_insurance_call)
    DECLARE @entry_trancount INT;
    DECLARE @implicit INT;
    SET @entry_trancount = @@TRANCOUNT;
    SET @implicit = @@OPTIONS & 2;
    -- 写有筛选索引（ux_mij_slot）的表需要这些选项；调用方的连接可能关闭了其中某些（如旧 ODBC 数据源），
    -- 过程返回后恢复。ANSI_NULLS、QUOTED_IDENTIFIER 在创建过程时已记录为 ON。
    -- Writing a table with a filtered index (ux_mij_slot) needs these; the caller's
    -- connection may have some off (an old ODBC data source), and they come back when the
    -- procedure returns. ANSI_NULLS and QUOTED_IDENTIFIER were recorded ON at creation.
    SET ANSI_WARNINGS ON;
    SET ANSI_PADDING ON;
    SET ARITHABORT ON;
    SET CONCAT_NULL_YIELDS_NULL ON;
    SET NUMERIC_ROUNDABORT OFF;
    DECLARE @params NVARCHAR(200);
    DECLARE @deadline DATETIME;
    DECLARE @wait_ms INT;
    DECLARE @wait DATETIME;

    SET @job_id = NULL;
    SET @status = NULL;
    SET @result = NULL;
    SET @err_msg = NULL;
    IF @wait_seconds IS NULL SET @wait_seconds = 600;

    -- 以文件应答的目录接口（1304、1312、1316–1319 是分页查询，不是文件）；二进制排序规则逐字匹配。
    -- The catalog interfaces answered with a file (1304, 1312 and 1316–1319 are paged
    -- queries); a binary collation matches them exactly, as the broker does.
    IF @catalog_code IS NULL
        OR @catalog_code COLLATE Latin1_General_BIN NOT IN (
            N'1301', N'1302', N'1303', N'1305', N'1306', N'1307', N'1308', N'1309', N'1310',
            N'1311', N'1313', N'1314', N'1315'
        )
    BEGIN
        RAISERROR (N'@catalog_code 须为以文件下载的目录接口：1301–1303、1305–1311、1313–1315 / @catalog_code must be a file catalog: 1301–1303, 1305–1311, 1313–1315', 16, 1);
        RETURN 5;
    END;
    -- 版本名原样写入 JSON，所以只允许不需转义的字符（'-' 须在方括号内的最后）
    -- The version goes into the JSON as it is, so only characters that need no escaping
    -- ('-' must come last inside the brackets)
    IF @ver_name IS NOT NULL AND 1 = CASE
        WHEN DATALENGTH(@ver_name) < 2 OR DATALENGTH(@ver_name) > 128 THEN 1
        WHEN @ver_name COLLATE Latin1_General_BIN LIKE N'%[^0-9A-Za-z._-]%' THEN 1
        ELSE 0
    END
    BEGIN
        RAISERROR (N'@ver_name 须为 1 到 64 个字母、数字或 . _ - / @ver_name must be 1 to 64 letters, digits or . _ -', 16, 1);
        RETURN 5;
    END;
    IF @wait_seconds < 0
    BEGIN
        RAISERROR (N'@wait_seconds 不能为负数（0 = 不等待）/ @wait_seconds must not be negative (0: no wait)', 16, 1);
        RETURN 5;
    END;
    -- 未提交的任务代理服务看不到，等待只会超时 / the broker cannot see an uncommitted job
    IF @wait_seconds > 0 AND @entry_trancount > 0
    BEGIN
        IF @implicit = 2
            RAISERROR (N'等待目录下载不能在未提交的事务中执行：本连接的 IMPLICIT_TRANSACTIONS 为 ON，之前的语句已隐式开启了事务。请先 COMMIT，或使用 @wait_seconds = 0 / waiting for a catalog download cannot run inside an open transaction: IMPLICIT_TRANSACTIONS is ON for this connection and an earlier statement opened one; COMMIT first, or use @wait_seconds = 0', 16, 1);
        ELSE
            RAISERROR (N'等待目录下载不能在未提交的事务中执行：请在事务外调用，或使用 @wait_seconds = 0 / waiting for a catalog download cannot run inside an open transaction: call it outside, or use @wait_seconds = 0', 16, 1);
        RETURN 5;
    END;
    -- 没有打开的事务：插入立即提交，等待循环也不开启事务（过程返回后恢复调用方的设置）
    -- None open: the insert commits at once and the wait loop opens no transaction (the
    -- caller's setting is restored when the procedure returns)
    IF @wait_seconds > 0 AND @implicit = 2 SET IMPLICIT_TRANSACTIONS OFF;

    SET @params = N'{"catalog":"' + @catalog_code + N'"'
    + CASE
        WHEN @ver_name IS NULL THEN N''
        ELSE N',"ver_name":"' + @ver_name + N'"'
    END
    + N'}';
    INSERT INTO dbo.medical_insurance_jobs (kind, params)
    VALUES (N'catalog-download', @params);
    SET @job_id = CONVERT(INT, SCOPE_IDENTITY());

    -- 下载需要几秒到几分钟：从 50 ms 起每次增加一半，最长 1 秒查看一次（按主键读一行）
    -- A download takes seconds to minutes: from 50 ms, half as long again each time, looking
    -- at most once a second (one row read by its key)
    SET @deadline = DATEADD(SECOND, @wait_seconds, GETDATE());
    SET @wait_ms = 50;
    WHILE 1 = 1
    BEGIN
        SET @status = NULL;
        SELECT
            @status = UPPER(LTRIM(RTRIM(status))),
            @result = result,
            @err_msg = err_msg
        FROM dbo.medical_insurance_jobs
        WHERE job_id = @job_id;
        IF @status IS NULL
        BEGIN
            RAISERROR (N'任务 %d 已被删除 / job %d was deleted', 10, 1, @job_id, @job_id);
            RETURN 6;
        END;
        IF @status IN (N'COMPLETED', N'ERROR') BREAK;
        IF GETDATE() >= @deadline BREAK;
        -- 不睡过截止时间 / never sleep past the deadline
        IF DATEADD(MILLISECOND, @wait_ms, GETDATE()) > @deadline
            SET @wait_ms = DATEDIFF(MILLISECOND, GETDATE(), @deadline) + 4;
        -- 绝不为负：负的毫秒数会变成前一天的时刻，WAITFOR 将等近 24 小时
        -- never below 1: a negative count would become a time of day the day before, and
        -- WAITFOR would sleep for almost 24 hours
        IF @wait_ms < 1 SET @wait_ms = 1;
        SET @wait = DATEADD(MILLISECOND, @wait_ms, 0);
        WAITFOR DELAY @wait;
        SET @wait_ms = @wait_ms + @wait_ms / 2;
        IF @wait_ms > 1000 SET @wait_ms = 1000;
    END;

    RETURN CASE
        WHEN @status = N'COMPLETED' THEN 0
        WHEN @status = N'ERROR' THEN 1
        ELSE 4
    END;
END;
GO

/* -----------------------------------------------------------------------------
   11d. sp_medical_insurance_reconcile：对一天的结算与医保中心对账（3201，不平或有 UNCERTAIN 时 3202 明细对账）
        reconcile one day's settlements with the 医保 centre (3201; 3202 for the detail
        when a total differs or a settlement is UNCERTAIN)

   在 medical_insurance_jobs 中插入一个 reconcile 任务，然后像 sp_medical_insurance_catalog_download 一样用纯 T-SQL
   （WAITFOR DELAY，不需要 xp_cmdshell）等待它结束，最多 @wait_seconds 秒（0 = 不等待，只返回 @job_id）。
   代理服务认领后：按险种（insutype）和清算类别（clr_type）汇总 @stmt_date 当天已完成（COMPLETED）的结算
   （2207、2207A、2304；撤销 2208、2305 计为负数），每组发送一次 3201 对总账；有一组不平、当天前后有结算请求为
   UNCERTAIN，或 @detail = 1 时，再上传明细文件（9101）、发送 3202 明细对账并下载平台的对账结果（9102）。
   每条差异是 medical_insurance_reconcile_diffs 中该 job_id 的一行（同一任务重跑时先删除再写入）。
   对账只读平台的账目，重复调用是安全的（每次是一个新任务、各自的差异行）。
   @setl_optins：结算经办机构，6 位数字的区划代码；不给时用代理服务配置的就医地（mdtrtarea_admvs）。
   返回值与 sp_medical_insurance_catalog_download 相同：0 完成 COMPLETED；1 失败 ERROR（原因见 @err_msg）；
   4 等待结束时仍未完成（@status 为 PENDING：还没有代理服务认领；RUNNING：正在对账），任务留在表中，之后由代理服务
     完成，不要重复调用，稍后读 medical_insurance_jobs；5 参数错误；6 任务行在等待期间被删除。
   事务规则同 sp_medical_insurance_catalog_download：@wait_seconds > 0 时不能在打开的事务中调用（返回 5）。
   完成时 @result 为 JSON，例如：
     {"date":"2026-12-01","settlements":5,"uncertain":1,"balanced":false,
      "groups":[{"insutype":"310","clr_type":"11","count":4,"medfee_sumamt":"400.00",
                 "fund_pay_sumamt":"280.00","acct_pay":"20.00","balanced":false,"request_id":17,
                 "stmt_rslt_dscr":"..."}],
      "detail":{"upload_request":18,"request_3202":19,"download_request":20},"differences":4}
   即：对账日期、当天计入的结算数、UNCERTAIN 的结算请求数、是否全部平衡、每组 3201 的汇总与结果（request_id 为
   medical_insurance_requests 中的请求）、明细对账用到的请求（平衡且无 UNCERTAIN 时没有 detail）和差异行数。

   用法 / usage:
     DECLARE @rc INT, @job_id INT, @status NVARCHAR(16), @result NVARCHAR(MAX), @err NVARCHAR(2000);
     DECLARE @day DATE;
     SET @day = DATEADD(DAY, -1, GETDATE());
     EXEC @rc = dbo.sp_medical_insurance_reconcile
         @stmt_date = @day, @wait_seconds = 600,
         @job_id = @job_id OUTPUT, @status = @status OUTPUT,
         @result = @result OUTPUT, @err_msg = @err OUTPUT;
     SELECT d.kind, d.setl_id, d.memo, r.status
     FROM medical_insurance_reconcile_diffs d
     LEFT JOIN v_medical_insurance_result r ON r.request_id = d.request_id
     WHERE d.job_id = @job_id;

   Inserts a reconcile job into medical_insurance_jobs and waits for it in pure T-SQL
   (WAITFOR DELAY, no xp_cmdshell), like sp_medical_insurance_catalog_download, up to
   @wait_seconds seconds (0: no wait, just the @job_id). The broker that claims it sums
   the day's COMPLETED settlements (2207, 2207A, 2304; cancellations 2208 and 2305 count
   negative) per insutype and clr_type and sends 3201 for each group; when a group does
   not balance, a settlement request around the day is UNCERTAIN, or @detail = 1, it
   uploads the detail (9101), sends 3202 and downloads the platform's result (9102). Each
   difference is a row of medical_insurance_reconcile_diffs for the job_id (a job run
   again replaces its rows). Reconciling only reads the platform's books, so calling again
   is safe (a new job with its own rows). @setl_optins: the 结算经办机构, a 6-digit area
   code; the broker's configured mdtrtarea_admvs when not given. Return values as for
   sp_medical_insurance_catalog_download: 0 COMPLETED; 1 ERROR (@err_msg says why); 4 not
   finished when the wait ended (@status PENDING: no broker has claimed it; RUNNING:
   reconciling): the job stays and a broker finishes it, do not call again, read
   medical_insurance_jobs later; 5 bad arguments; 6 the job row was deleted while waiting.
   Transactions as there: with @wait_seconds > 0 it refuses to run inside an open one (5).
   On success @result is the JSON above: the day, the settlements counted, the UNCERTAIN
   settlement requests, whether everything balanced, each group's totals and 3201 verdict
   (request_id: its row of medical_insurance_requests), the detail's requests (none when
   all balanced and nothing was UNCERTAIN) and the number of differences.
   ----------------------------------------------------------------------------- */
IF OBJECT_ID(N'dbo.sp_medical_insurance_reconcile', N'P') IS NULL
    EXEC (N'CREATE PROCEDURE dbo.sp_medical_insurance_reconcile AS RETURN 0');
GO

ALTER PROCEDURE dbo.sp_medical_insurance_reconcile
    @stmt_date DATE,
    @setl_optins NVARCHAR(6) = NULL,
    @detail BIT = 0,
    @wait_seconds INT = 600,
    @job_id INT = NULL OUTPUT,
    @status NVARCHAR(16) = NULL OUTPUT,
    @result NVARCHAR(MAX) = NULL OUTPUT,
    @err_msg NVARCHAR(2000) = NULL OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    -- 调用方的事务状态，在访问任何表之前记下（同 sp_medical_insurance_call）
    -- the caller's transaction state, taken before any table is read (as in sp_medical_insurance_call)
    DECLARE @entry_trancount INT;
    DECLARE @implicit INT;
    SET @entry_trancount = @@TRANCOUNT;
    SET @implicit = @@OPTIONS & 2;
    -- 写有筛选索引（ux_mij_slot）的表需要这些选项（同 sp_medical_insurance_catalog_download），过程返回后恢复。
    -- Writing a table with a filtered index (ux_mij_slot) needs these (as in
    -- sp_medical_insurance_catalog_download); they come back when the procedure returns.
    SET ANSI_WARNINGS ON;
    SET ANSI_PADDING ON;
    SET ARITHABORT ON;
    SET CONCAT_NULL_YIELDS_NULL ON;
    SET NUMERIC_ROUNDABORT OFF;
    DECLARE @params NVARCHAR(200);
    DECLARE @deadline DATETIME;
    DECLARE @wait_ms INT;
    DECLARE @wait DATETIME;

    SET @job_id = NULL;
    SET @status = NULL;
    SET @result = NULL;
    SET @err_msg = NULL;
    IF @wait_seconds IS NULL SET @wait_seconds = 600;
    IF @detail IS NULL SET @detail = 0;

    IF @stmt_date IS NULL
    BEGIN
        RAISERROR (N'@stmt_date 不能为空：要对账的日期 / @stmt_date must not be NULL: the day to reconcile', 16, 1);
        RETURN 5;
    END;
    -- 恰好 6 个 ASCII 数字（二进制排序规则：[0-9] 只含 ASCII 数字；DATALENGTH 而不是 LEN：LEN 不计结尾的空格），
    -- 所以原样写入 JSON 无需转义
    -- Exactly six ASCII digits (a binary collation: [0-9] is the ASCII digits only;
    -- DATALENGTH, not LEN: LEN leaves out trailing spaces), so it goes into the JSON unescaped
    IF @setl_optins IS NOT NULL AND 1 = CASE
        WHEN DATALENGTH(@setl_optins) <> 12 THEN 1
        WHEN @setl_optins COLLATE Latin1_General_BIN LIKE N'%[^0-9]%' THEN 1
        ELSE 0
    END
    BEGIN
        RAISERROR (N'@setl_optins 须为 6 位数字的区划代码，如 N''430100'' / @setl_optins must be a 6-digit area code, e.g. N''430100''', 16, 1);
        RETURN 5;
    END;
    IF @wait_seconds < 0
    BEGIN
        RAISERROR (N'@wait_seconds 不能为负数（0 = 不等待）/ @wait_seconds must not be negative (0: no wait)', 16, 1);
        RETURN 5;
    END;
    -- 未提交的任务代理服务看不到，等待只会超时 / the broker cannot see an uncommitted job
    IF @wait_seconds > 0 AND @entry_trancount > 0
    BEGIN
        IF @implicit = 2
            RAISERROR (N'等待对账不能在未提交的事务中执行：本连接的 IMPLICIT_TRANSACTIONS 为 ON，之前的语句已隐式开启了事务。请先 COMMIT，或使用 @wait_seconds = 0 / waiting for a reconciliation cannot run inside an open transaction: IMPLICIT_TRANSACTIONS is ON for this connection and an earlier statement opened one; COMMIT first, or use @wait_seconds = 0', 16, 1);
        ELSE
            RAISERROR (N'等待对账不能在未提交的事务中执行：请在事务外调用，或使用 @wait_seconds = 0 / waiting for a reconciliation cannot run inside an open transaction: call it outside, or use @wait_seconds = 0', 16, 1);
        RETURN 5;
    END;
    -- 没有打开的事务：插入立即提交，等待循环也不开启事务（过程返回后恢复调用方的设置）
    -- None open: the insert commits at once and the wait loop opens no transaction (the
    -- caller's setting is restored when the procedure returns)
    IF @wait_seconds > 0 AND @implicit = 2 SET IMPLICIT_TRANSACTIONS OFF;

    -- 样式 120：yyyy-mm-dd，与语言和 DATEFORMAT 设置无关 / style 120: yyyy-mm-dd whatever the language and DATEFORMAT
    SET @params = N'{"date":"' + CONVERT(NVARCHAR(10), @stmt_date, 120) + N'"'
    + CASE
        WHEN @setl_optins IS NULL THEN N''
        ELSE N',"setl_optins":"' + @setl_optins + N'"'
    END
    + CASE
        WHEN @detail = 1 THEN N',"detail":true'
        ELSE N''
    END
    + N'}';
    INSERT INTO dbo.medical_insurance_jobs (kind, params)
    VALUES (N'reconcile', @params);
    SET @job_id = CONVERT(INT, SCOPE_IDENTITY());

    -- 对账需要几秒到几分钟（每组一次 3201，可能还有 9101、3202、9102）：从 50 ms 起每次增加一半，
    -- 最长 1 秒查看一次（按主键读一行）
    -- A reconciliation takes seconds to minutes (3201 per group, perhaps 9101, 3202 and
    -- 9102): from 50 ms, half as long again each time, looking at most once a second (one
    -- row read by its key)
    SET @deadline = DATEADD(SECOND, @wait_seconds, GETDATE());
    SET @wait_ms = 50;
    WHILE 1 = 1
    BEGIN
        SET @status = NULL;
        SELECT
            @status = UPPER(LTRIM(RTRIM(status))),
            @result = result,
            @err_msg = err_msg
        FROM dbo.medical_insurance_jobs
        WHERE job_id = @job_id;
        IF @status IS NULL
        BEGIN
            RAISERROR (N'任务 %d 已被删除 / job %d was deleted', 10, 1, @job_id, @job_id);
            RETURN 6;
        END;
        IF @status IN (N'COMPLETED', N'ERROR') BREAK;
        IF GETDATE() >= @deadline BREAK;
        -- 不睡过截止时间 / never sleep past the deadline
        IF DATEADD(MILLISECOND, @wait_ms, GETDATE()) > @deadline
            SET @wait_ms = DATEDIFF(MILLISECOND, GETDATE(), @deadline) + 4;
        -- 绝不为负：负的毫秒数会变成前一天的时刻，WAITFOR 将等近 24 小时
        -- never below 1: a negative count would become a time of day the day before, and
        -- WAITFOR would sleep for almost 24 hours
        IF @wait_ms < 1 SET @wait_ms = 1;
        SET @wait = DATEADD(MILLISECOND, @wait_ms, 0);
        WAITFOR DELAY @wait;
        SET @wait_ms = @wait_ms + @wait_ms / 2;
        IF @wait_ms > 1000 SET @wait_ms = 1000;
    END;

    RETURN CASE
        WHEN @status = N'COMPLETED' THEN 0
        WHEN @status = N'ERROR' THEN 1
        ELSE 4
    END;
END;
GO

/* -----------------------------------------------------------------------------
   12. 记录版本：只有本版本需要的列和索引都已存在时才记录（代理服务启动时检查）。
       sqlcmd 默认遇错继续执行，所以这里再核对一次，避免前面失败却记录了新版本。
       从不降低版本（较新的脚本已执行过时保持不变）。
       record the schema version, only once every column and index it promises exists
       (the broker checks it at start-up). sqlcmd carries on after an error by default, so
       this looks again rather than record a version an earlier failure broke. Never
       lowers the version (a newer script may have run).
   ----------------------------------------------------------------------------- */
IF
    COL_LENGTH(N'dbo.medical_insurance_requests', N'claim_gen') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_requests', N'expires_at') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_requests', N'reversal_id') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_files', N'content') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_files', N'sha256') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_files', N'file_qury_no') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_jobs', N'status') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_jobs', N'lease_until') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_jobs', N'claim_gen') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_jobs', N'slot') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_catalog_rows', N'item_code') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_catalog_rows', N'fields') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_catalog_versions', N'ver_name') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_catalog_versions', N'row_count') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_reconcile_diffs', N'job_id') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_reconcile_diffs', N'stmt_date') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_reconcile_diffs', N'kind') IS NULL
    OR COL_LENGTH(N'dbo.medical_insurance_reconcile_diffs', N'request_id') IS NULL
    OR NOT EXISTS (
        SELECT 1 FROM sys.indexes
        WHERE
            name = N'ix_mir_reversal'
            AND object_id = OBJECT_ID(N'dbo.medical_insurance_requests')
    )
    OR NOT EXISTS (
        SELECT 1 FROM sys.indexes
        WHERE
            name = N'ux_mij_slot'
            AND object_id = OBJECT_ID(N'dbo.medical_insurance_jobs')
    )
    RAISERROR (N'安装未完成：medical_insurance_requests 缺少 claim_gen、expires_at、reversal_id 或索引 ix_mir_reversal，或 medical_insurance_files 表缺少 content、sha256、file_qury_no 列，或 medical_insurance_jobs、medical_insurance_catalog_rows、medical_insurance_catalog_versions、medical_insurance_reconcile_diffs 表或索引 ux_mij_slot 不完整，版本未更新；请查看上面的错误后重新执行 / install incomplete: medical_insurance_requests lacks claim_gen, expires_at, reversal_id or index ix_mir_reversal, or medical_insurance_files lacks content, sha256 or file_qury_no, or medical_insurance_jobs, medical_insurance_catalog_rows, medical_insurance_catalog_versions, medical_insurance_reconcile_diffs or index ux_mij_slot is incomplete; schema_version not raised: see the errors above and run the script again', 16, 1);
ELSE
BEGIN
    UPDATE dbo.medical_insurance_settings
    SET value = N'4'
    WHERE
        name = 'schema_version'
        -- 空值、非数字或低于 4 才改（二进制排序规则：[0-9] 只含 ASCII 数字，CONVERT 不会失败）
        -- only when empty, not a number, or below 4 (a binary collation: [0-9] means the ASCII
        -- digits only, so CONVERT cannot fail)
        AND 1 = CASE
            WHEN value IS NULL THEN 1
            WHEN LTRIM(RTRIM(value)) = N'' THEN 1
            WHEN LTRIM(RTRIM(value)) COLLATE Latin1_General_BIN LIKE N'%[^0-9]%' THEN 1
            WHEN LEN(LTRIM(RTRIM(value))) > 9 THEN 0
            WHEN CONVERT(INT, LTRIM(RTRIM(value))) < 4 THEN 1
            ELSE 0
        END;
    IF NOT EXISTS (
        SELECT 1 FROM dbo.medical_insurance_settings
        WHERE name = 'schema_version'
    )
        INSERT INTO dbo.medical_insurance_settings (name, value, note)
        VALUES (
            'schema_version',
            N'4',
            N'安装脚本版本，代理服务启动时检查 / install script version, checked by the broker'
        );
    PRINT N'yibao 安装完成 / yibao installed (schema_version 4)';
END;
GO
