//! `trailspark sync`: one-shot delivery of a JSONL or CSV file through
//! `[destinations.salesforce]`, without the service or a database. The file is streamed in
//! batches (read, deliver, write reports, next batch), so memory stays bounded whatever its
//! size, and report lines come out in input order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use delivery::{DeliverOptions, Destination, Lookup, Metadata};
use domain::{
    DestinationSettings, Evaluation, Outcome, ParseOptions, Report, ReportError, describe_errors,
};

use super::common::{EXIT_CANNOT_START, EXIT_PROBLEMS, connect_with, load_config, print_error};

/// Evaluations per batch by default. Each batch pays for its own lookup call and a partly
/// filled last write call, so small batches waste API calls: at 5,000 a batch needs about
/// four ~30-40 KB lookup statements (one Composite call) and five full write calls, close
/// to the floor (see docs/benchmarks.md), while memory stays in the tens of megabytes.
pub const DEFAULT_BATCH_SIZE: usize = 5000;

/// A batch is closed early once its reasoning texts reach this size, so that a file of
/// very long reasonings (up to 131,072 characters each) still streams in bounded memory.
const MAX_BATCH_TEXT_BYTES: usize = 64 * 1024 * 1024;

/// Extra delivery rounds for evaluations that failed transiently (row lock, 503, a create
/// whose answer was lost), by default. Each round delivers them again from scratch:
/// `Destination::deliver` looks every email up before planning, so a create that did reach
/// Salesforce becomes an update instead of a duplicate.
pub const DEFAULT_RETRIES: u32 = 3;

/// The wait before each retry round: the product's one backoff, 1 s doubling (1 s, 2 s,
/// 4 s, at most a minute), each wait jittered down to half so that parallel runs do not
/// retry in step.
const RETRY_BACKOFF: domain::Backoff =
    domain::Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (TOML) with [integrations.NAME] and [destinations.salesforce].
    #[arg(long)]
    pub config: PathBuf,
    /// Evaluations as JSON Lines or CSV (by extension, else sniffed); `-` reads stdin.
    #[arg(long)]
    pub input: String,
    /// Where to write the report (JSON Lines); stdout when absent.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Look up and plan, write nothing; every report line carries "dry_run": true.
    #[arg(long)]
    pub dry_run: bool,
    /// Evaluations delivered together (lookups and writes are batched per batch).
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub batch_size: usize,
    /// Composite requests in flight at once.
    #[arg(long, default_value_t = delivery::DEFAULT_CONCURRENCY, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub concurrency: usize,
    /// Reject evaluations with keys the evaluation format (docs/api.md#evaluation) does not define.
    #[arg(long)]
    pub strict: bool,
    /// Times evaluations that failed transiently (row lock, Salesforce unavailable, lost
    /// answer) are delivered again, after 1 s, 2 s, 4 s, ...; 0 disables. Not applied once
    /// the API usage pause or the org's request limit is reached.
    #[arg(long, default_value_t = DEFAULT_RETRIES, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: u32,
}

pub async fn run(args: Args) -> ExitCode {
    match sync(args).await {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            ExitCode::from(EXIT_CANNOT_START)
        }
    }
}

/// One input item: an evaluation, or the report of a line that could not be one.
enum Item {
    Evaluation(Evaluation),
    Rejected(Report),
}

enum Format {
    Jsonl,
    Csv,
}

/// Streams items from JSON Lines or CSV.
struct Input {
    kind: InputKind,
    strict: bool,
}

enum InputKind {
    Jsonl {
        reader: BufReader<Box<dyn Read>>,
        line: u64,
        buf: Vec<u8>,
    },
    Csv {
        reader: csv::Reader<BufReader<Box<dyn Read>>>,
        header: Vec<String>,
    },
}

impl Input {
    fn open(spec: &str, strict: bool) -> Result<Input> {
        let (source, ext): (Box<dyn Read>, Option<String>) = if spec == "-" {
            (Box::new(io::stdin()), None)
        } else {
            let path = Path::new(spec);
            let file =
                File::open(path).with_context(|| format!("cannot read the input file {spec}"))?;
            if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                bail!("cannot read the input file {spec}: it is a directory");
            }
            (
                Box::new(file),
                path.extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase()),
            )
        };
        let mut reader = BufReader::with_capacity(256 * 1024, source);
        let format = match ext.as_deref() {
            Some("csv") => Format::Csv,
            Some("jsonl" | "ndjson" | "json") => Format::Jsonl,
            _ => sniff(&mut reader).with_context(|| format!("cannot read the input {spec}"))?,
        };
        let kind = match format {
            Format::Jsonl => InputKind::Jsonl {
                reader,
                line: 0,
                buf: Vec::new(),
            },
            Format::Csv => {
                let mut r = csv::ReaderBuilder::new()
                    .flexible(true)
                    .has_headers(true)
                    .from_reader(reader);
                let header: Vec<String> = match r.headers() {
                    Ok(h) => h
                        .iter()
                        .map(|s| s.trim().trim_start_matches('\u{feff}').to_string())
                        .collect(),
                    Err(e) => bail!("cannot read the CSV header of {spec}: {e}"),
                };
                let has_content = !(header.is_empty() || header.len() == 1 && header[0].is_empty());
                let missing = domain::evaluation::csv_header_missing(&header);
                if has_content && !missing.is_empty() {
                    bail!(
                        "{spec}: the CSV header lacks the column(s) {}; expected {}",
                        missing.join(", "),
                        domain::evaluation::CSV_COLUMNS.join(",")
                    );
                }
                InputKind::Csv { reader: r, header }
            }
        };
        Ok(Input { kind, strict })
    }

    /// The next item, `None` at the end.
    fn next(&mut self) -> Result<Option<Item>> {
        let strict = self.strict;
        match &mut self.kind {
            InputKind::Jsonl { reader, line, buf } => loop {
                buf.clear();
                let n = reader.read_until(b'\n', buf).context("reading the input")?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                let Ok(text) = std::str::from_utf8(buf) else {
                    return Ok(Some(Item::Rejected(rejected_line(
                        *line,
                        "",
                        "",
                        "the line is not valid UTF-8",
                    ))));
                };
                let text = text.trim_start_matches('\u{feff}').trim();
                if text.is_empty() {
                    continue;
                }
                return Ok(Some(parse_json_line(text, *line, strict)));
            },
            InputKind::Csv { reader, header } => {
                let mut record = csv::StringRecord::new();
                match reader.read_record(&mut record) {
                    Ok(false) => Ok(None),
                    Ok(true) => {
                        let line = record.position().map(|p| p.line()).unwrap_or(0);
                        let row: Vec<String> = record.iter().map(str::to_string).collect();
                        if row.iter().all(|c| c.trim().is_empty()) {
                            return self.next();
                        }
                        Ok(Some(match Evaluation::parse_csv_record(header, &row) {
                            Ok(ev) => Item::Evaluation(ev),
                            Err(errs) => {
                                let get = |k: &str| {
                                    header
                                        .iter()
                                        .position(|h| h == k)
                                        .and_then(|i| row.get(i))
                                        .cloned()
                                        .unwrap_or_default()
                                };
                                Item::Rejected(rejected_line(
                                    line,
                                    &get("id"),
                                    &get("email"),
                                    &describe_errors(&errs),
                                ))
                            }
                        }))
                    }
                    Err(e) => {
                        let line = e.position().map(|p| p.line()).unwrap_or(0);
                        if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                            return Err(anyhow!("reading the input: {e}"));
                        }
                        Ok(Some(Item::Rejected(rejected_line(
                            line,
                            "",
                            "",
                            &format!("not a valid CSV row: {e}"),
                        ))))
                    }
                }
            }
        }
    }
}

/// JSON Lines when the first non-blank character is `{`, CSV otherwise.
fn sniff(reader: &mut BufReader<Box<dyn Read>>) -> io::Result<Format> {
    let buf = reader.fill_buf()?;
    let text = String::from_utf8_lossy(buf);
    let first = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .next();
    Ok(if first == Some('{') || first.is_none() {
        Format::Jsonl
    } else {
        Format::Csv
    })
}

fn parse_json_line(text: &str, line: u64, strict: bool) -> Item {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Item::Rejected(rejected_line(line, "", "", &format!("not valid JSON: {e}")));
        }
    };
    match Evaluation::parse_json_with(&v, ParseOptions { strict }) {
        Ok(ev) => Item::Evaluation(ev),
        Err(errs) => {
            let id = v.get("id").and_then(Value::as_str).unwrap_or("");
            let email = v
                .get("email")
                .and_then(Value::as_str)
                .map(|e| e.trim().to_lowercase())
                .unwrap_or_default();
            Item::Rejected(rejected_line(line, id, &email, &describe_errors(&errs)))
        }
    }
}

fn rejected_line(line: u64, id: &str, email: &str, message: &str) -> Report {
    let mut r = Report::rejected(id, email, message);
    r.line = Some(line);
    r
}

/// Where the destination's reports come from: Salesforce, or (disabled) the planner alone,
/// which makes no API call.
enum Sink {
    Live(Destination),
    Disabled(DestinationSettings),
}

async fn sync(args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let config = load_config(&args.config)?;
    let origin = args.config.display().to_string();
    let (dest, integ) = config
        .destination_with_integration(&origin)
        .map_err(|e| anyhow!("{e}"))?;
    let mut input = Input::open(&args.input, args.strict)?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).with_context(|| {
                format!("cannot write the output file {}", p.display())
            })?))
        }
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };

    let sink = if dest.enabled {
        let concurrency = args.concurrency;
        // Retries are this command's rounds (`--retries`); the client reports each failure
        // at once instead of retrying it too.
        let client = connect_with(integ, |c| {
            c.concurrency = concurrency;
            c.retry = salesforce::RetryPolicy::none();
        })
        .await?;
        Sink::Live(Destination::new(dest.clone(), client).await?)
    } else {
        Sink::Disabled(dest.clone())
    };
    let opts = DeliverOptions {
        dry_run: args.dry_run,
        concurrency: args.concurrency,
        lease: None,
    };

    let progress = std::io::stderr().is_terminal().then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} evaluations ({per_sec}) {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    });

    let mut counts: BTreeMap<Outcome, u64> = BTreeMap::new();
    let mut pause_noted = false;
    let mut total = 0u64;
    loop {
        let mut items = Vec::with_capacity(args.batch_size.min(10_000));
        let mut text_bytes = 0;
        while items.len() < args.batch_size && text_bytes < MAX_BATCH_TEXT_BYTES {
            match input.next()? {
                Some(item) => {
                    if let Item::Evaluation(e) = &item {
                        text_bytes += e.reasoning.len();
                    }
                    items.push(item);
                }
                None => break,
            }
        }
        if items.is_empty() {
            break;
        }
        let evaluations: Vec<Evaluation> = items
            .iter()
            .filter_map(|i| match i {
                Item::Evaluation(e) => Some(e.clone()),
                Item::Rejected(_) => None,
            })
            .collect();
        let delivered = match &sink {
            Sink::Live(d) if paused(d, integ.pause_at_api_usage) => {
                if !pause_noted {
                    pause_noted = true;
                    eprintln!(
                        "trailspark sync: the org's daily API usage passed {:.0}% (pause_at_api_usage of [integrations.{}]); the remaining evaluations are reported as failed ({}) and can be sent again later",
                        integ.pause_at_api_usage * 100.0,
                        integ.name,
                        domain::hints::API_USAGE_PAUSED
                    );
                }
                let err = ReportError::from_code(
                    domain::hints::API_USAGE_PAUSED,
                    "delivery paused: the org's daily API usage passed pause_at_api_usage",
                )
                .with_kind(domain::FailureKind::RequestLimit);
                evaluations
                    .iter()
                    .map(|e| Report::failed(e.id.as_str(), e.email.normalized(), err.clone()))
                    .collect()
            }
            Sink::Live(d) => {
                let mut reports = d.deliver(&evaluations, opts.clone()).await;
                retry_transient(d, &evaluations, &mut reports, opts.clone(), &args, integ).await;
                reports
            }
            Sink::Disabled(s) => {
                let mut r =
                    delivery::plan(&evaluations, &Lookup::default(), s, &Metadata::default())
                        .reports;
                r.iter_mut().for_each(|r| r.dry_run = args.dry_run);
                r
            }
        };
        let mut delivered = delivered.into_iter();
        for item in items {
            let mut report = match item {
                Item::Evaluation(_) => delivered
                    .next()
                    .ok_or_else(|| anyhow!("internal error: a report is missing"))?,
                Item::Rejected(r) => r,
            };
            report.dry_run = args.dry_run;
            *counts.entry(report.outcome).or_default() += 1;
            total += 1;
            out.write_all(report.to_json_line().as_bytes())
                .context("writing the report")?;
            out.write_all(b"\n").context("writing the report")?;
        }
        out.flush().context("writing the report")?;
        if let Some(pb) = &progress {
            pb.set_position(total);
        }
    }
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }

    let calls = match &sink {
        Sink::Live(d) => d.client().calls_made(),
        Sink::Disabled(_) => 0,
    };
    eprintln!(
        "{}",
        summary(total, &counts, calls, started.elapsed(), args.dry_run)
    );
    let problems = counts.get(&Outcome::Failed).copied().unwrap_or(0)
        + counts.get(&Outcome::Rejected).copied().unwrap_or(0);
    Ok(if problems > 0 {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    })
}

/// Delivers again, up to `args.retries` rounds with backoff, the evaluations whose report
/// failed transiently, replacing their reports in place (input order is kept) by what both
/// attempts did ([`delivery::after_retry`]). A fresh `deliver` looks the emails up again,
/// so retrying a create whose answer was lost is safe.
async fn retry_transient(
    d: &Destination,
    evaluations: &[Evaluation],
    reports: &mut [Report],
    opts: DeliverOptions,
    args: &Args,
    integ: &domain::IntegrationSettings,
) {
    for round in 0..args.retries {
        let again: Vec<usize> = reports
            .iter()
            .enumerate()
            .filter(|(_, r)| worth_retrying(r))
            .map(|(i, _)| i)
            .collect();
        if again.is_empty() || paused(d, integ.pause_at_api_usage) {
            return;
        }
        // Never before the longest `Retry-After` the org asked for.
        let asked = again
            .iter()
            .filter_map(|&i| reports[i].error.as_ref()?.retry_after_ms)
            .max()
            .map(Duration::from_millis)
            .unwrap_or_default();
        tokio::time::sleep(RETRY_BACKOFF.jittered(round + 1).max(asked)).await;
        let subset: Vec<Evaluation> = again.iter().map(|&i| evaluations[i].clone()).collect();
        let fresh = d.deliver(&subset, opts.clone()).await;
        for (i, r) in again.into_iter().zip(fresh) {
            // What the evaluation did over both attempts: a create whose answer was lost
            // and that the new attempt finds in place was created by it.
            let first = std::mem::replace(&mut reports[i], r.clone());
            reports[i] = delivery::after_retry(first, r);
        }
    }
}

/// A failed report a later attempt may fix soon, by its kind: a record's transient trouble,
/// a create to look up again, the org unavailable, throttling (after `Retry-After`) or
/// the concurrent limit. Not the daily limit or the usage pause (only the rolling 24 h
/// window lifts them), a refused sign-in, or the record's own problem.
fn worth_retrying(r: &Report) -> bool {
    use domain::FailureKind as K;
    r.outcome == Outcome::Failed
        && r.error.as_ref().is_some_and(|e| {
            matches!(
                e.kind,
                K::RecordTransient
                    | K::AmbiguousCreate
                    | K::OrgUnavailable
                    | K::Throttled
                    | K::ConcurrentLimit
            )
        })
}

/// Whether the org's daily API usage, as Salesforce reported it on the last response
/// (`Sforce-Limit-Info`), has passed the integration's `pause_at_api_usage` share: the
/// product leaves the rest of the allocation to the org's other integrations.
fn paused(d: &Destination, share: f64) -> bool {
    d.client()
        .api_usage()
        .is_some_and(|u| u.max > 0 && u.used as f64 >= share * u.max as f64)
}

/// `12 evaluations in 0.4 s: 5 updated, 2 created, 1 failed; 3 Salesforce API calls`.
fn summary(
    total: u64,
    counts: &BTreeMap<Outcome, u64>,
    calls: u64,
    elapsed: Duration,
    dry_run: bool,
) -> String {
    let parts: Vec<String> = Outcome::ALL
        .iter()
        .filter_map(|o| {
            counts
                .get(o)
                .filter(|n| **n > 0)
                .map(|n| format!("{n} {}", o.as_str()))
        })
        .collect();
    let by_outcome = if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    };
    format!(
        "trailspark sync: {total} evaluation{} in {:.1} s{by_outcome}; {calls} Salesforce API call{}{}",
        if total == 1 { "" } else { "s" },
        elapsed.as_secs_f64(),
        if calls == 1 { "" } else { "s" },
        if dry_run {
            " (dry run: nothing was written)"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(kind: domain::FailureKind) -> Report {
        Report::failed(
            "e",
            "p@x.com",
            ReportError::from_code("ANY", "m").with_kind(kind),
        )
    }

    #[test]
    fn only_short_lived_trouble_is_retried_by_kind() {
        use domain::FailureKind as K;
        for k in [
            K::RecordTransient,
            K::AmbiguousCreate,
            K::OrgUnavailable,
            K::Throttled,
            K::ConcurrentLimit,
        ] {
            assert!(worth_retrying(&failed(k)), "{k:?}");
        }
        for k in [K::RequestLimit, K::SignedOut, K::Record] {
            assert!(!worth_retrying(&failed(k)), "{k:?}");
        }
    }

    #[test]
    fn retry_rounds_wait_one_second_doubling() {
        for (round, full) in [(1, 1), (2, 2), (3, 4)] {
            assert_eq!(RETRY_BACKOFF.ceiling(round), Duration::from_secs(full));
        }
    }
}
