//! `yibao-torture`: run seeds, print each summary, exit non-zero on any violation.
//!
//!     cargo run --release -p yibao-torture -- --seed 7 --duration 60s
//!     cargo run --release -p yibao-torture -- --seeds 1,2,3 --duration 45s
//!     cargo run --release -p yibao-torture -- --seed 1 --duration 30m      # a long soak

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use yibao_torture::run::{run_seed, RunOptions, Verdict};

#[derive(Parser, Debug)]
#[command(
    name = "yibao-torture",
    version,
    about = "Seeded, randomized torture run of the real broker, shim and simulator"
)]
struct Args {
    /// One seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Several seeds, run one after another: 1,2,3.
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// How long each seed runs before quiescing: 45s, 30m, 1h, 500ms, or plain seconds.
    #[arg(long, default_value = "60s")]
    duration: String,
    /// No full-disk episodes (they need root to mount a tmpfs).
    #[arg(long)]
    no_disk: bool,
    /// Keep every run's directory (logs, config, database), not only failing ones.
    #[arg(long)]
    keep: bool,
    /// Append a Markdown section per failing seed to this file.
    #[arg(long)]
    findings: Option<PathBuf>,
}

fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().with_context(|| format!("duration {s:?}"))?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" | "min" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => bail!("duration {s:?}: use s, m, h or ms"),
    })
}

fn replay(seed: u64, args: &Args) -> String {
    format!(
        "cargo run --release -p yibao-torture -- --seed {seed} --duration {}{}",
        args.duration,
        if args.no_disk { " --no-disk" } else { "" }
    )
}

fn append_findings(path: &PathBuf, v: &Verdict, command: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    writeln!(
        f,
        "\n## seed {} — {} violation(s)\n",
        v.seed,
        v.violations.len()
    )?;
    writeln!(f, "Command: `{command}`\n")?;
    if let Some(dir) = &v.kept {
        writeln!(
            f,
            "Evidence kept in `{}` (report.txt, timeline.log, broker logs, store).\n",
            dir.display()
        )?;
    }
    for e in &v.harness_errors {
        writeln!(f, "- harness: {e}")?;
    }
    for x in &v.violations {
        writeln!(f, "- invariant {}: {}", x.invariant, x.detail)?;
    }
    writeln!(f, "\n```\n{}```", v.summary)?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let duration = parse_duration(&args.duration)?;
    let mut seeds = args.seeds.clone();
    seeds.extend(args.seed);
    if seeds.is_empty() {
        bail!("give --seed N or --seeds 1,2,3");
    }
    yibao::build_binaries();
    let mut failed = Vec::new();
    for &seed in &seeds {
        let command = replay(seed, &args);
        let o = RunOptions {
            duration,
            allow_disk: !args.no_disk,
            keep: args.keep,
            replay: command.clone(),
        };
        let outcome = std::panic::catch_unwind(|| run_seed(seed, &o));
        let verdict = match outcome {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                println!("== seed {seed}: HARNESS ERROR: {e:#}\nreplay: {command}");
                failed.push(seed);
                continue;
            }
            Err(_) => {
                println!("== seed {seed}: HARNESS PANIC (see above)\nreplay: {command}");
                failed.push(seed);
                continue;
            }
        };
        print!("{}", verdict.summary);
        for e in &verdict.harness_errors {
            println!("harness error: {e}");
        }
        if let Some(dir) = &verdict.kept {
            println!("kept: {}", dir.display());
        }
        let bad = !verdict.violations.is_empty() || !verdict.harness_errors.is_empty();
        if bad {
            println!("FAILED — replay with: {command}");
            failed.push(seed);
            if let Some(path) = &args.findings {
                append_findings(path, &verdict, &command)?;
            }
        }
    }
    if failed.is_empty() {
        println!("yibao-torture: all {} seed(s) passed", seeds.len());
        Ok(())
    } else {
        let list: Vec<String> = failed.iter().map(u64::to_string).collect();
        println!("yibao-torture: FAILED seeds {}", list.join(","));
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("45s").ok(), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("30m").ok(), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h").ok(), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
