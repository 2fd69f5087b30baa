/* =============================================================================
   yibao 卸载脚本 / uninstall script

   默认只删除存储过程、函数和视图，保留全部数据表（请求、应答、应答字段、发送记录、文件、批量任务、
   下载的目录及其版本、对账差异、设置）。
   要连数据一起删除，把下面的 @drop_tables 改为 1 —— 这会永久删除所有医保调用记录，请先备份。
   By default only the procedures, the functions and the views are dropped; every table
   (requests, responses, response fields, attempts, files, batch jobs, downloaded catalogs
   and their versions, reconciliation differences, settings) is kept. Set @drop_tables
   to 1 below to drop the data as well — that deletes every 医保 call record for good;
   back it up first.
   ============================================================================= */
SET NOCOUNT ON;

DECLARE @drop_tables BIT;
SET @drop_tables = 0;

-- 先删引用表的对象（过程、视图），再删函数和表 / what reads the tables first, then functions and tables
IF OBJECT_ID(N'dbo.sp_medical_insurance_reconcile', N'P') IS NOT NULL
    DROP PROCEDURE dbo.sp_medical_insurance_reconcile;
IF OBJECT_ID(N'dbo.sp_medical_insurance_catalog_download', N'P') IS NOT NULL
    DROP PROCEDURE dbo.sp_medical_insurance_catalog_download;
IF OBJECT_ID(N'dbo.v_medical_insurance_catalog_latest', N'V') IS NOT NULL
    DROP VIEW dbo.v_medical_insurance_catalog_latest;
IF OBJECT_ID(N'dbo.yibao_catalog_field', N'FN') IS NOT NULL
    DROP FUNCTION dbo.yibao_catalog_field;
IF OBJECT_ID(N'dbo.fn_medical_insurance_field', N'FN') IS NOT NULL
    DROP FUNCTION dbo.fn_medical_insurance_field;
IF OBJECT_ID(N'dbo.sp_medical_insurance_fields', N'P') IS NOT NULL
    DROP PROCEDURE dbo.sp_medical_insurance_fields;
IF OBJECT_ID(N'dbo.sp_medical_insurance_cancel', N'P') IS NOT NULL
    DROP PROCEDURE dbo.sp_medical_insurance_cancel;
IF OBJECT_ID(N'dbo.sp_medical_insurance_call', N'P') IS NOT NULL
    DROP PROCEDURE dbo.sp_medical_insurance_call;
IF OBJECT_ID(N'dbo.sp_medical_insurance_wait', N'P') IS NOT NULL
    DROP PROCEDURE dbo.sp_medical_insurance_wait;
IF OBJECT_ID(N'dbo.sp_medical_insurance_result', N'P') IS NOT NULL
    DROP PROCEDURE dbo.sp_medical_insurance_result;
IF OBJECT_ID(N'dbo.yibao_wait_for_status', N'P') IS NOT NULL
    DROP PROCEDURE dbo.yibao_wait_for_status;
IF OBJECT_ID(N'dbo.yibao_cancel_pending', N'P') IS NOT NULL
    DROP PROCEDURE dbo.yibao_cancel_pending;
IF OBJECT_ID(N'dbo.v_medical_insurance_result', N'V') IS NOT NULL
    DROP VIEW dbo.v_medical_insurance_result;

IF @drop_tables = 1
BEGIN
    IF OBJECT_ID(N'dbo.medical_insurance_reconcile_diffs', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_reconcile_diffs;
    IF OBJECT_ID(N'dbo.medical_insurance_catalog_versions', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_catalog_versions;
    IF OBJECT_ID(N'dbo.medical_insurance_catalog_rows', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_catalog_rows;
    IF OBJECT_ID(N'dbo.medical_insurance_jobs', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_jobs;
    IF OBJECT_ID(N'dbo.medical_insurance_files', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_files;
    IF OBJECT_ID(N'dbo.medical_insurance_response_fields', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_response_fields;
    IF OBJECT_ID(N'dbo.medical_insurance_attempts', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_attempts;
    IF OBJECT_ID(N'dbo.medical_insurance_responses', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_responses;
    IF OBJECT_ID(N'dbo.medical_insurance_requests', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_requests;
    IF OBJECT_ID(N'dbo.medical_insurance_settings', N'U') IS NOT NULL
        DROP TABLE dbo.medical_insurance_settings;
    PRINT N'yibao 已卸载，数据表已删除 / yibao uninstalled, tables dropped';
END
ELSE
    PRINT N'yibao 已卸载，数据表保留 / yibao uninstalled, tables kept';
GO
