//! `mqlite-charts`: turns the JSON lines of `benches/compare.sh` into the "Network
//! comparison" section of `benches/RESULTS.md` (Markdown tables with the targets of issue
//! #7) and SVG charts, drawn with `plotters`; no Python needed. Usage: `benches/README.md`,
//! "compare.sh".
//!
//! | module | what it holds |
//! |---|---|
//! | `data` | the results file, grouped by scenario and broker; median, min, max |
//! | `targets` | headline figures, ratios and the targets |
//! | `markdown` | the RESULTS.md section |
//! | `chart`, `charts` | drawing helpers and the five charts |
#![forbid(unsafe_code)]

mod chart;
mod charts;
mod data;
mod markdown;
mod targets;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

const USAGE: &str = "\
usage: mqlite-charts --input RESULTS.jsonl [--meta META.json] [--charts DIR] [--markdown FILE]
                     [--notes NOTES.md]

  --input FILE     compare.sh's JSON lines, one per run
  --meta FILE      compare.sh's run description (versions, machine, duration)
  --charts DIR     write throughput.svg, ratios.svg, latency.svg, idle.svg, slow.svg there
  --markdown FILE  write the RESULTS.md section (without its markers) there; links to the
                   charts are relative to benches/ (charts/NAME.svg)
  --notes FILE     Markdown written by hand, put in the section after the summary
";

#[derive(Debug, Default)]
struct Args {
    input: Option<PathBuf>,
    meta: Option<PathBuf>,
    charts: Option<PathBuf>,
    markdown: Option<PathBuf>,
    notes: Option<PathBuf>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>> {
    let mut a = Args::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let slot = match flag.as_str() {
            "--input" => &mut a.input,
            "--meta" => &mut a.meta,
            "--charts" => &mut a.charts,
            "--markdown" => &mut a.markdown,
            "--notes" => &mut a.notes,
            other => bail!("unknown argument `{other}`"),
        };
        *slot = Some(
            args.next()
                .with_context(|| format!("{flag} needs a value"))?
                .into(),
        );
    }
    if a.input.is_none() {
        bail!("--input is required");
    }
    Ok(Some(a))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            eprint!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mqlite-charts: {e:#}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mqlite-charts: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> Result<()> {
    let input = a.input.as_ref().context("--input is required")?;
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let scenarios = data::parse(&text).with_context(|| input.display().to_string())?;
    let meta: Value = match &a.meta {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| path.display().to_string())?
        }
        None => Value::Null,
    };
    if let Some(dir) = &a.charts {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for path in charts::write_all(&scenarios, dir)? {
            eprintln!("mqlite-charts: wrote {}", path.display());
        }
    }
    if let Some(path) = &a.markdown {
        let notes = match &a.notes {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
            None => String::new(),
        };
        let section = markdown::render(&scenarios, &meta, "charts", &notes);
        std::fs::write(path, section).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("mqlite-charts: wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Option<Args>> {
        parse_args(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn input_is_required_and_flags_take_values() {
        let a = args("--input r.jsonl --charts out")
            .expect("valid")
            .expect("not help");
        assert_eq!(a.input, Some(PathBuf::from("r.jsonl")));
        assert_eq!(a.charts, Some(PathBuf::from("out")));
        assert!(args("--charts out").is_err());
        assert!(args("--input").is_err());
        assert!(args("--input a --bogus").is_err());
        assert!(args("--help").expect("help").is_none());
    }
}
