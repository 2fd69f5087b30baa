/* =============================================================================
   HIS 调用示例（对应原设计 §3.1）/ how the HIS calls 医保 (the original design's §3.1)
   前提：已执行 sql/install.sql，代理服务 yibao-broker 正在运行。
   Requires sql/install.sql and a running yibao-broker.
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
-- 3 代理服务未处理 not picked up (is yibao-broker running?), 4 仍在处理 still running
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
GO
