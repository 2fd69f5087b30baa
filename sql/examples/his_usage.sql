/* =============================================================================
   HIS 调用示例（对应原设计 §3.1）/ how the HIS calls 医保 (the original design's §3.1)
   前提：已执行 sql/install.sql，代理服务 yibao-broker 正在运行。
   Requires sql/install.sql and a running yibao-broker.
   同步调用（@async = 0）在 IMPLICIT_TRANSACTIONS 为 ON 时也可用（只要没有未提交的事务）。
   Sync calls work under IMPLICIT_TRANSACTIONS ON too, as long as no transaction is open.
   ============================================================================= */
SET NOCOUNT ON;

DECLARE @result_id INT;
DECLARE @result_data NVARCHAR(MAX);
DECLARE @rc INT;

-- 1. 异步调用：立即返回请求编号 / async: returns the request id at once
EXEC @rc = dbo.sp_medical_insurance_call
    @interface_code = '1101',
    @input_data = N'{"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "43012319900101123X", "psn_cert_type": "01", "certno": "43012319900101123X", "psn_name": ""}}',
    @async = 1,
    @result_id = @result_id OUTPUT,
    @result_data = @result_data OUTPUT;

-- 查询结果（随时可查；status 为 PENDING/PROCESSING 表示仍在处理）
-- read the result (any time; PENDING/PROCESSING means still running)
SELECT * FROM dbo.v_medical_insurance_result WHERE request_id = @result_id;

-- 或者等它结束（最多 30 秒）/ or wait for it to end (up to 30 s)
EXEC @rc = dbo.sp_medical_insurance_wait @request_id = @result_id, @timeout_s = 30;

-- 1b. 带截止时间的异步调用：120 秒内未发出则永不发送（ERROR“已过期”）
-- async with a deadline: never sent if not sent within 120 s (ERROR "expired")
EXEC @rc = dbo.sp_medical_insurance_call
    @interface_code = '1101',
    @input_data = N'{"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "43012319900101123X", "psn_cert_type": "01", "certno": "43012319900101123X", "psn_name": ""}}',
    @async = 1,
    @result_id = @result_id OUTPUT,
    @expires_s = 120;

-- 1c. 取消仍为 PENDING 的请求（之后绝不发送）：0 已取消；6 已被认领、已结束或不存在，@status 为当前状态
-- cancel a request still PENDING (never sent after): 0 cancelled; 6 already claimed,
-- finished or missing, with its current state in @status
DECLARE @status VARCHAR(20);
EXEC @rc = dbo.sp_medical_insurance_cancel @request_id = @result_id, @status = @status OUTPUT;
IF @rc = 6 AND @status = 'PROCESSING'
    PRINT N'已在处理，不能取消：等待结果 / already processing, cannot cancel: wait for the result';

-- 1d. 在事务中：只能异步调用；请求随事务提交才会发送，回滚则永不发送
-- (IMPLICIT_TRANSACTIONS 为 ON 时，异步调用的插入同样属于它开启的事务，需要 COMMIT)
-- inside a transaction: async only; the request is sent once the transaction commits and
-- never if it rolls back (under IMPLICIT_TRANSACTIONS ON the async insert likewise belongs
-- to the transaction it opens: COMMIT it)
BEGIN TRANSACTION;
EXEC @rc = dbo.sp_medical_insurance_call
    @interface_code = '1101',
    @input_data = N'{"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "43012319900101123X", "psn_cert_type": "01", "certno": "43012319900101123X", "psn_name": ""}}',
    @async = 1,
    @result_id = @result_id OUTPUT;
COMMIT TRANSACTION;

-- 2. 同步调用：等待结束，直接拿到应答 JSON / sync: wait and get the response JSON
EXEC @rc = dbo.sp_medical_insurance_call
    @interface_code = '1101',
    @input_data = N'{"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "43012319900101123X", "psn_cert_type": "01", "certno": "43012319900101123X", "psn_name": ""}}',
    @async = 0,
    @result_id = @result_id OUTPUT,
    @result_data = @result_data OUTPUT;

-- 直接获取结果 / the result directly
SELECT @rc AS return_code, @result_id AS request_id, @result_data AS result_data;

-- 返回值 / return value: 0 完成 done, 1 业务错误 business error (err_msg in the view),
-- 2 结果不确定 uncertain (may have taken effect: do not resend, see 冲正),
-- 3 代理服务未处理 not picked up (is yibao-broker running?)：请求已取消，永不发送，可以重试
--   / the request was cancelled and is never sent: safe to retry,
-- 4 仍在处理 still running：不要重试，稍后读视图 / do not retry, read the view later
-- 同步调用的截止时间为 @timeout_s + 5 秒（expires_at），过期后绝不发送，即使本过程被客户端超时中断。
-- 客户端的命令超时（如 ADO.NET CommandTimeout）请设得比 @timeout_s 多 10 秒以上。
-- A sync call's deadline (expires_at) is @timeout_s + 5 s: never sent after it, even when a
-- client's command timeout stopped the procedure. Set that timeout (e.g. ADO.NET
-- CommandTimeout) at least 10 s above @timeout_s.
IF @rc = 1
    SELECT err_msg FROM dbo.v_medical_insurance_result WHERE request_id = @result_id;

-- 3. 带经办人和参保地的结算（同步，纯 T-SQL 等待，不需要 xp_cmdshell）
-- settlement with operator and insured-place overrides (sync, pure T-SQL wait, no xp_cmdshell)
EXEC @rc = dbo.sp_medical_insurance_call
    @interface_code = '2207',
    @input_data = N'{"data": {"psn_no": "43000000000000000001", "mdtrt_cert_type": "02", "mdtrt_cert_no": "43012319900101123X", "med_type": "11", "medfee_sumamt": "100.00", "psn_setlway": "01", "mdtrt_id": "MD0001", "chrg_bchno": "CB0001", "insutype": "310", "acct_used_flag": "0"}}',
    @async = 0,
    @result_id = @result_id OUTPUT,
    @result_data = @result_data OUTPUT,
    @timeout_s = 60,
    @mode = 'poll',
    @opter = N'0012',
    @opter_name = N'张收费',
    @insuplc_admdvs = '430100';

-- 3b. 不用 JSON 读取结算结果（SQL Server 2008 R2–2014 没有 JSON 函数）
-- read the settlement without JSON (SQL Server 2008 R2–2014 have no JSON functions):
-- 接口目录列出的输出字段已逐行写入 medical_insurance_response_fields
-- the output fields the catalog names are rows of medical_insurance_response_fields
IF @rc = 0
BEGIN
    DECLARE @setl_id NVARCHAR(30), @fund_pay DECIMAL(16, 2), @cash_pay DECIMAL(16, 2);
    SET @setl_id = dbo.fn_medical_insurance_field(@result_id, N'setlinfo.setl_id', 0);
    SET @fund_pay = CAST(
        dbo.fn_medical_insurance_field(@result_id, N'setlinfo.fund_pay_sumamt', 0)
        AS DECIMAL(16, 2)
    );
    SET @cash_pay = CAST(
        dbo.fn_medical_insurance_field(@result_id, N'setlinfo.psn_cash_pay', 0)
        AS DECIMAL(16, 2)
    );
    -- 或者一次取全部字段 / or every field at once, as rows (path, row_index, value)
    EXEC dbo.sp_medical_insurance_fields @request_id = @result_id;
END;

-- 4. 需要人工处理的请求 / requests that need a human
SELECT request_id, interface_code, status, msgid, err_msg, update_time
FROM dbo.v_medical_insurance_result
WHERE status IN ('UNCERTAIN', 'ERROR')
ORDER BY request_id DESC;

-- 5. 下载医保目录 1301（西药中成药）到 medical_insurance_catalog_rows，最多等 10 分钟（纯 T-SQL 等待）。
-- 首次为全量，之后从 medical_insurance_catalog_versions 记录的版本增量下载；须在事务外调用。
-- download catalog 1301 into medical_insurance_catalog_rows, waiting up to 10 minutes (pure
-- T-SQL wait): everything the first time, then from the version
-- medical_insurance_catalog_versions holds; call it outside a transaction.
DECLARE @job_id INT, @job_status NVARCHAR(16), @job_result NVARCHAR(MAX), @job_err NVARCHAR(2000);
EXEC @rc = dbo.sp_medical_insurance_catalog_download
    @catalog_code = N'1301',
    @wait_seconds = 600,
    @job_id = @job_id OUTPUT,
    @status = @job_status OUTPUT,
    @result = @job_result OUTPUT,
    @err_msg = @job_err OUTPUT;
-- 返回值 / return value: 0 完成 done（@job_result 如 / e.g.
-- {"catalog":"1301","from_ver":"20261101-001","ver_name":"20261105-005","rows":300,"total":12300,"requests":[41,42],"file_id":9}），
-- 1 失败 failed（@job_err 为原因 / the reason）, 4 仍未完成 not finished yet（任务保留，不要重复调用，
-- 稍后查看 / the job stays, do not call again, look later）, 5 参数错误 bad arguments
IF @rc = 4
    SELECT job_id, status, result, err_msg
    FROM dbo.medical_insurance_jobs
    WHERE job_id = @job_id;

-- 5a. 按字段读取目录（字段以制表符分隔，dbo.yibao_catalog_field 取第 n 个，从 1 开始；第 1 个即 item_code）
-- read a catalog by field (tab-separated; dbo.yibao_catalog_field takes the n-th, from 1;
-- the first is item_code). 各字段的含义见国家医保接口文档 / the fields are in the national documents
SELECT
    item_code,
    dbo.yibao_catalog_field(fields, 2) AS 名称,
    ver_name
FROM dbo.medical_insurance_catalog_rows
WHERE catalog_code = '1301'
ORDER BY row_id;

-- 5b. 每个编码只要最新版本的一行 / only the newest version's row of each code
SELECT
    item_code,
    dbo.yibao_catalog_field(fields, 2) AS 名称,
    ver_name
FROM dbo.v_medical_insurance_catalog_latest
WHERE catalog_code = '1301' AND item_code = N'XA01ABD075A002010100483';

-- 5c. 各目录当前的版本和行数 / each catalog's version and row count
SELECT catalog_code, ver_name, row_count, update_time
FROM dbo.medical_insurance_catalog_versions;

-- 6. 对账昨天的结算（3201；不平或有 UNCERTAIN 时 3202 明细对账），最多等 10 分钟；须在事务外调用。
-- reconcile yesterday's settlements (3201; 3202 for the detail when a total differs or a
-- settlement is UNCERTAIN), waiting up to 10 minutes; call it outside a transaction.
-- @setl_optins 不给时用代理服务配置的就医地 / without @setl_optins the broker's mdtrtarea_admvs
DECLARE @stmt_date DATE;
SET @stmt_date = CONVERT(DATE, DATEADD(DAY, -1, GETDATE()));
EXEC @rc = dbo.sp_medical_insurance_reconcile
    @stmt_date = @stmt_date,
    @wait_seconds = 600,
    @job_id = @job_id OUTPUT,
    @status = @job_status OUTPUT,
    @result = @job_result OUTPUT,
    @err_msg = @job_err OUTPUT;
-- 返回值同上 / return values as above: 0 完成 done（@job_result 如 / e.g.
-- {"date":"2026-12-01","settlements":5,"uncertain":1,"balanced":false,"groups":[...],"detail":{...},"differences":4}），
-- 1 失败 failed, 4 仍未完成 not finished yet, 5 参数错误 bad arguments

-- 6a. 差异，一行一条，附本地请求的状态（UNCERTAIN_APPLIED：平台已有这笔结算，按已生效处理；
-- UNCERTAIN_NOT_APPLIED：平台没有，按未生效处理；UNCERTAIN_UNKNOWN：无法判断，先向平台查询，不要重发）
-- the differences, one row each, with our request's status (UNCERTAIN_APPLIED: the
-- platform holds the settlement, it took effect; UNCERTAIN_NOT_APPLIED: it did not;
-- UNCERTAIN_UNKNOWN: cannot tell, ask the platform before anything is sent again)
SELECT d.kind, d.setl_id, d.mdtrt_id, d.memo, d.request_id, r.status
FROM dbo.medical_insurance_reconcile_diffs AS d
LEFT JOIN dbo.v_medical_insurance_result AS r ON d.request_id = r.request_id
WHERE d.job_id = @job_id
ORDER BY d.diff_id;
GO
