//! Interface codes the broker itself sends or treats specially, named once.

/// 9001 签到 (sign-in): opens the session whose `sign_no` later envelopes carry.
pub const SIGN_IN: &str = "9001";
/// 9002 签退 (sign-out).
pub const SIGN_OUT: &str = "9002";
/// 2601 冲正 (reversal) of an earlier state-changing call, by its msgid.
pub const REVERSAL: &str = "2601";
