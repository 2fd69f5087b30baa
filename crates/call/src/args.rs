//! Command-line parsing, by hand: the shim is spawned per stored-procedure call, so it
//! carries no argument-parsing framework, and its grammar is small enough to read here.

use std::time::Duration;

use yibao_proto::Overrides;

pub const USAGE: &str = "\
yibao-call — 医保代理服务的命令行接口 / command-line shim of the yibao broker

用法 / usage:
  yibao-call [--pipe NAME] run <request_id> [--wait SECONDS]
  yibao-call [--pipe NAME] kick <request_id>
  yibao-call [--pipe NAME] wait <request_id> [--wait SECONDS]
  yibao-call [--pipe NAME] result <request_id> [--json]
  yibao-call [--pipe NAME] call <infno> (--input-file FILE | -) [--wait SECONDS] [--async]
             [--opter X] [--opter-name X] [--opter-type X] [--insuplc-admdvs X] [--mdtrtarea-admvs X]
             标准输出为应答 JSON，标准错误输出一行 request_id=<编号> status=<状态>，供 reverse/cancel 使用
             stdout: the response JSON; stderr: a line request_id=<id> status=<STATUS> for reverse/cancel
  yibao-call [--pipe NAME] reverse <request_id> [--wait SECONDS]
             冲正（2601）：成功时状态为 REVERSED，退出码 0 / 2601 reversal; exit 0 when REVERSED
  yibao-call [--pipe NAME] cancel <request_id>
             取消 PENDING 的请求（之后绝不会发送）：已取消退出码 0；已被认领或已结束则退出码 6 并打印当前状态
             cancel a PENDING request (it will never be sent): exit 0 when cancelled; exit 6 with
             the current state when it is already claimed or finished
  yibao-call [--pipe NAME] validate <infno> (--input-file FILE | -)
             按接口目录校验入参，不记录、不发送；通过退出码 0，不通过 1（每个问题一行，输出到 stderr）
             check an input against the catalog without recording or sending it; exit 0 if it
             passes, 1 if not (one line per problem on stderr)
  yibao-call [--pipe NAME] catalog-download <1301…1315> [--ver-name V] [--wait SECONDS]
             目录下载：接口 → 9102 → 写入 medical_insurance_catalog_rows，从表中已有的版本增量下载（--ver-name
             指定从哪个版本之后下载）；默认等待 600 秒。标准输出为任务结果 JSON，标准错误输出 job_id=<编号> status=<状态>
             download a catalog into medical_insurance_catalog_rows, continuing from the version the
             table holds (--ver-name: after that version instead); waits 600 s by default.
             stdout: the job's result JSON; stderr: job_id=<id> status=<STATUS>
  yibao-call [--pipe NAME] reconcile --date yyyy-MM-dd [--setl-optins AREA] [--wait SECONDS]
             对账：按本地已完成的结算按险种、清算类别发送 3201，再上传明细（9101）、发送 3202 并下载结果（9102），
             逐笔差异（含 UNCERTAIN 结算是否已生效）写入 medical_insurance_reconcile_diffs
             reconcile a day: 3201 per insutype and clr_type from the stored settlements, then
             the detail via 9101, 3202 and 9102; each difference (and whether an UNCERTAIN
             settlement took effect) a row of medical_insurance_reconcile_diffs
  yibao-call [--pipe NAME] job <job_id> [--wait SECONDS]
             查看或等待一个批量任务（medical_insurance_jobs）/ show or wait for a batch job
  yibao-call [--pipe NAME] ping
  yibao-call [--pipe NAME] status
  yibao-call --version

  --pipe NAME   管道名，默认 yibao 或环境变量 YIBAO_PIPE / pipe name (default: $YIBAO_PIPE or yibao)
  --wait S      最长等待秒数，默认 30 / seconds to wait for a terminal state (default 30)
  --input-file - 与 - 相同，从标准输入读取 / same as -: read standard input
  --name=value  与 --name value 相同 / same as --name value

退出码 / exit codes:
  0 完成 COMPLETED            done
  1 业务错误 ERROR/REVERSED    business error (read err_msg from v_medical_insurance_result;
                               a job's from medical_insurance_jobs)
  2 结果不确定 UNCERTAIN       uncertain: may or may not have taken effect
  3 代理服务不可达             broker unreachable (not running?)
  4 等待超时（仍在处理）       wait timed out; the request is in the broker's hands and goes on
                               (run：等待结束时仍未开始处理的请求会被取消，退出码 1
                                run: a request not yet started when the wait ends is cancelled, exit 1)
  5 用法错误                   bad usage
  6 代理服务拒绝               broker refused (unknown request id, database down, shutting down)
";

/// Default wait for `run`, `wait` and sync `call`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// Default wait for a batch job (`catalog-download`): a catalog takes minutes.
pub const JOB_WAIT: Duration = Duration::from_secs(600);

/// Where `call` reads its input JSON from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    File(String),
    Stdin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    /// `--version`: the shim's version and the pipe protocol it speaks.
    Version,
    Run {
        id: i64,
        wait: Duration,
    },
    Kick {
        id: i64,
    },
    Wait {
        id: i64,
        wait: Duration,
    },
    Result {
        id: i64,
        json: bool,
    },
    Call {
        infno: String,
        input: InputSource,
        wait: Duration,
        is_async: bool,
        overrides: Overrides,
    },
    Reverse {
        id: i64,
        wait: Duration,
    },
    Validate {
        infno: String,
        input: InputSource,
    },
    Cancel {
        id: i64,
    },
    CatalogDownload {
        catalog: String,
        ver_name: Option<String>,
        wait: Duration,
    },
    Job {
        id: i64,
        wait: Duration,
    },
    Reconcile {
        date: String,
        setl_optins: Option<String>,
        wait: Duration,
    },
    Ping,
    Status,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub pipe: Option<String>,
    pub command: Command,
}

/// Parses `args` (without the program name). Errors are messages for stderr.
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut pipe = None;
    let mut rest: Vec<&str> = Vec::new();
    let split = split_equals(args);
    let mut it = split.iter().copied();
    while let Some(a) = it.next() {
        match a {
            "--pipe" => pipe = Some(value(&mut it, "--pipe")?.to_string()),
            "-h" | "--help" | "help" => {
                return Ok(Invocation {
                    pipe,
                    command: Command::Help,
                })
            }
            "-V" | "--version" => {
                return Ok(Invocation {
                    pipe,
                    command: Command::Version,
                })
            }
            _ => rest.push(a),
        }
    }
    let Some((&cmd, tail)) = rest.split_first() else {
        return Err("缺少命令 / missing command".into());
    };
    let mut opts = Options::parse(tail)?;
    let command = match cmd {
        "run" => Command::Run {
            id: opts.id()?,
            wait: opts.wait()?,
        },
        "kick" => Command::Kick { id: opts.id()? },
        "wait" => Command::Wait {
            id: opts.id()?,
            wait: opts.wait()?,
        },
        "result" => Command::Result {
            id: opts.id()?,
            json: opts.flag("--json"),
        },
        "validate" => Command::Validate {
            infno: opts.positional("infno")?,
            input: opts.input("validate")?,
        },
        "call" => {
            let infno = opts.positional("infno")?;
            let input = opts.input("call")?;
            Command::Call {
                infno,
                input,
                wait: opts.wait()?,
                is_async: opts.flag("--async"),
                overrides: Overrides {
                    insuplc_admdvs: opts.take("--insuplc-admdvs"),
                    mdtrtarea_admvs: opts.take("--mdtrtarea-admvs"),
                    opter: opts.take("--opter"),
                    opter_name: opts.take("--opter-name"),
                    opter_type: opts.take("--opter-type"),
                },
            }
        }
        "reverse" => Command::Reverse {
            id: opts.id()?,
            wait: opts.wait()?,
        },
        "cancel" => Command::Cancel { id: opts.id()? },
        "catalog-download" => Command::CatalogDownload {
            catalog: opts.positional("catalog")?,
            ver_name: opts.take("--ver-name"),
            wait: opts.wait_or(JOB_WAIT)?,
        },
        "reconcile" => Command::Reconcile {
            date: opts.take("--date").ok_or_else(|| {
                "reconcile 需要 --date yyyy-MM-dd / reconcile needs --date yyyy-MM-dd".to_string()
            })?,
            setl_optins: opts.take("--setl-optins"),
            wait: opts.wait_or(JOB_WAIT)?,
        },
        "job" => Command::Job {
            id: opts.id_named("job_id")?,
            wait: opts.wait_or(Duration::ZERO)?,
        },
        "ping" => Command::Ping,
        "status" => Command::Status,
        other => return Err(format!("未知命令 / unknown command: {other}")),
    };
    opts.finish()?;
    Ok(Invocation { pipe, command })
}

/// `--wait=5` as `--wait 5`: the `--name=value` spelling of every option that takes one.
fn split_equals(args: &[String]) -> Vec<&str> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        match a.split_once('=') {
            Some((name, v)) if name == "--pipe" || VALUED.contains(&name) => {
                out.push(name);
                out.push(v);
            }
            _ => out.push(a.as_str()),
        }
    }
    out
}

fn value<'a>(it: &mut impl Iterator<Item = &'a str>, name: &str) -> Result<&'a str, String> {
    it.next()
        .ok_or_else(|| format!("{name} 缺少取值 / {name} needs a value"))
}

/// The arguments after the command: positionals, `--name value` pairs and flags.
struct Options {
    positionals: Vec<String>,
    named: Vec<(String, String)>,
    flags: Vec<String>,
}

const VALUED: [&str; 10] = [
    "--wait",
    "--date",
    "--setl-optins",
    "--ver-name",
    "--input-file",
    "--opter",
    "--opter-name",
    "--opter-type",
    "--insuplc-admdvs",
    "--mdtrtarea-admvs",
];

impl Options {
    fn parse(tail: &[&str]) -> Result<Self, String> {
        let mut o = Options {
            positionals: Vec::new(),
            named: Vec::new(),
            flags: Vec::new(),
        };
        let mut it = tail.iter().copied();
        while let Some(a) = it.next() {
            if VALUED.contains(&a) {
                o.named
                    .push((a.to_string(), value(&mut it, a)?.to_string()));
            } else if a == "-" || a.starts_with("--") {
                o.flags.push(a.to_string());
            } else {
                o.positionals.push(a.to_string());
            }
        }
        Ok(o)
    }

    fn positional(&mut self, what: &str) -> Result<String, String> {
        if self.positionals.is_empty() {
            return Err(format!("缺少 {what} / missing {what}"));
        }
        Ok(self.positionals.remove(0))
    }

    /// `--input-file FILE` or `-` (stdin), exactly one; `--input-file -` is stdin too.
    fn input(&mut self, cmd: &str) -> Result<InputSource, String> {
        match (self.take("--input-file"), self.flag("-")) {
            (Some(f), false) if f == "-" => Ok(InputSource::Stdin),
            (Some(f), false) => Ok(InputSource::File(f)),
            (None, true) => Ok(InputSource::Stdin),
            _ => Err(format!(
                "{cmd} 需要 --input-file FILE 或 - 之一 / {cmd} needs exactly one of --input-file FILE or -"
            )),
        }
    }

    fn id(&mut self) -> Result<i64, String> {
        self.id_named("request_id")
    }

    fn id_named(&mut self, what: &str) -> Result<i64, String> {
        let raw = self.positional(what)?;
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(id),
            _ => Err(format!(
                "{what} 必须是正整数 / {what} must be a positive integer: {raw}"
            )),
        }
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.named.iter().position(|(n, _)| n == name)?;
        Some(self.named.remove(i).1)
    }

    fn flag(&mut self, name: &str) -> bool {
        match self.flags.iter().position(|f| f == name) {
            Some(i) => {
                self.flags.remove(i);
                true
            }
            None => false,
        }
    }

    fn wait(&mut self) -> Result<Duration, String> {
        self.wait_or(DEFAULT_WAIT)
    }

    fn wait_or(&mut self, default: Duration) -> Result<Duration, String> {
        match self.take("--wait") {
            None => Ok(default),
            Some(s) => match s.parse::<f64>() {
                Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => {
                    Ok(Duration::from_secs_f64(v))
                }
                _ => Err(format!(
                    "--wait 必须是 0 到 86400 之间的秒数 / --wait must be seconds between 0 and 86400: {s}"
                )),
            },
        }
    }

    /// Anything left over is a mistake worth reporting rather than ignoring.
    fn finish(self) -> Result<(), String> {
        let extra: Vec<String> = self
            .positionals
            .into_iter()
            .chain(self.named.into_iter().map(|(n, _)| n))
            .chain(self.flags)
            .collect();
        if extra.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "无法识别的参数 / unexpected arguments: {}",
                extra.join(" ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Invocation, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn run_with_wait_and_pipe() {
        let inv = p("--pipe his run 42 --wait 2.5").unwrap();
        assert_eq!(inv.pipe.as_deref(), Some("his"));
        assert_eq!(
            inv.command,
            Command::Run {
                id: 42,
                wait: Duration::from_millis(2500)
            }
        );
    }

    #[test]
    fn equals_spellings_and_input_file_dash() {
        let inv = p("--pipe=his run 42 --wait=5").unwrap();
        assert_eq!(inv.pipe.as_deref(), Some("his"));
        assert_eq!(
            inv.command,
            Command::Run {
                id: 42,
                wait: Duration::from_secs(5)
            }
        );
        match p("call 1101 --input-file -").unwrap().command {
            Command::Call { input, .. } => assert_eq!(input, InputSource::Stdin),
            other => panic!("{other:?}"),
        }
        match p("call 1101 --input-file=a=b.json").unwrap().command {
            Command::Call { input, .. } => assert_eq!(input, InputSource::File("a=b.json".into())),
            other => panic!("{other:?}"),
        }
        assert!(p("run 42 --bogus=1").is_err());
    }

    #[test]
    fn call_needs_exactly_one_input() {
        assert!(p("call 1101").is_err());
        assert!(p("call 1101 - --input-file x").is_err());
        let inv = p("call 1101 - --opter 007 --async").unwrap();
        match inv.command {
            Command::Call {
                infno,
                input,
                is_async,
                overrides,
                ..
            } => {
                assert_eq!(infno, "1101");
                assert_eq!(input, InputSource::Stdin);
                assert!(is_async);
                assert_eq!(overrides.opter.as_deref(), Some("007"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn validate_takes_a_code_and_one_input() {
        assert_eq!(
            p("validate 2207 --input-file in.json").unwrap().command,
            Command::Validate {
                infno: "2207".into(),
                input: InputSource::File("in.json".into())
            }
        );
        assert!(p("validate 2207").is_err());
        assert!(p("validate --input-file x").is_err());
        assert!(p("validate 2207 - --wait 3").is_err());
    }

    #[test]
    fn bad_usage_is_reported() {
        for bad in [
            "",
            "run",
            "run abc",
            "run -3",
            "run 1 --wait x",
            "run 1 --wait",
            "run 1 2",
            "frobnicate",
            "kick 1 --bogus",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
