//! Interface codes the broker itself sends or treats specially, named once.

/// 9001 签到 (sign-in): opens the session whose `sign_no` later envelopes carry.
pub const SIGN_IN: &str = "9001";
/// 9002 签退 (sign-out).
pub const SIGN_OUT: &str = "9002";
/// 2601 冲正 (reversal) of an earlier state-changing call, by its msgid.
pub const REVERSAL: &str = "2601";
/// 9101 文件上传 (upload): the file goes in `fsUploadIn.in`.
pub const FILE_UPLOAD: &str = "9101";
/// 9102 文件下载 (download): the answer is the file itself, not an envelope.
pub const FILE_DOWNLOAD: &str = "9102";
