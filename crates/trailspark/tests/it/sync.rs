//! `trailspark sync` end to end: the real binary against an emulated org started in-process,
//! checking the records in the org afterwards through sfsim's control plane.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// A scratch directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "trailspark-it-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write scratch file");
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with `args` (and `envs`), optionally feeding `stdin`.
pub async fn trailspark(args: &[&str], envs: &[(&str, String)], stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_trailspark"));
    cmd.args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("the trailspark binary runs");
    if let Some(mut s) = child.stdin.take() {
        if let Some(text) = stdin {
            s.write_all(text.as_bytes()).await.expect("stdin");
        }
        drop(s);
    }
    child.wait_with_output().await.expect("trailspark finishes")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Report lines as JSON values.
pub fn lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("report line is JSON ({e}): {l}"))
        })
        .collect()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A config for an integration pointed at `url` with the refresh token in `SF_RT`.
pub fn config(url: &str, client_id: &str, destination_extra: &str) -> String {
    format!(
        r#"[integrations.sim]
login_url = "{url}"
client_id = "{client_id}"
auth = "refresh_token"
refresh_token_env = "SF_RT"

[destinations.salesforce]
integration = "sim"
{destination_extra}

[destinations.salesforce.lead]
score_field = "TrailSpark_Score__c"
evaluation_date_field = "TrailSpark_Evaluation_Date__c"
reasoning_field = "TrailSpark_Reasoning__c"

[destinations.salesforce.contact]
score_field = "TrailSpark_Score__c"
evaluation_date_field = "TrailSpark_Evaluation_Date__c"
reasoning_field = "TrailSpark_Reasoning__c"

[destinations.salesforce.propensity]
account_field = "TrailSpark_Propensity__c"
lead_field = "TrailSpark_Propensity__c"
"#
    )
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

// ---------------------------------------------------------------- without an org

/// A destination that is switched off never calls Salesforce, so input handling can be
/// tested without an org (the login URL points nowhere).
fn disabled_config(s: &Scratch) -> PathBuf {
    s.write(
        "config.toml",
        &config("http://127.0.0.1:9", "none", "enabled = false"),
    )
}

#[tokio::test]
async fn bad_config_exits_2_naming_file_key_and_problem() {
    let s = Scratch::new("badcfg");
    let cfg = s.write(
        "config.toml",
        &config("http://127.0.0.1:9", "x", "person_match = \"contacts\""),
    );
    let input = s.write("in.jsonl", "");
    let o = trailspark(
        &[
            "sync",
            "--config",
            path_str(&cfg),
            "--input",
            path_str(&input),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(err.contains("config.toml: destinations.salesforce.person_match: expected \"contact_first\" or \"both\", got \"contacts\""), "{err}");
}

#[tokio::test]
async fn missing_config_file_exits_2() {
    let s = Scratch::new("nocfg");
    let input = s.write("in.jsonl", "");
    let missing = s.0.join("nope.toml");
    let o = trailspark(
        &[
            "sync",
            "--config",
            path_str(&missing),
            "--input",
            path_str(&input),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("nope.toml: cannot read the file"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn unreadable_input_exits_2() {
    let s = Scratch::new("noinput");
    let cfg = disabled_config(&s);
    let missing = s.0.join("missing.jsonl");
    let o = trailspark(
        &[
            "sync",
            "--config",
            path_str(&cfg),
            "--input",
            path_str(&missing),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cannot read the input file"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
}

#[tokio::test]
async fn empty_file_exits_0_with_a_summary_of_zero() {
    let s = Scratch::new("empty");
    let cfg = disabled_config(&s);
    let input = s.write("in.jsonl", "\n\n");
    let o = trailspark(
        &[
            "sync",
            "--config",
            path_str(&cfg),
            "--input",
            path_str(&input),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("0 evaluations"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

#[tokio::test]
async fn csv_without_required_columns_exits_2() {
    let s = Scratch::new("csvhdr");
    let cfg = disabled_config(&s);
    let input = s.write("in.csv", "id,email,score\nx,a@b.co,hot\n");
    let o = trailspark(
        &[
            "sync",
            "--config",
            path_str(&cfg),
            "--input",
            path_str(&input),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("lacks the column(s) reasoning, evaluated_at"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn invalid_lines_are_rejected_naming_the_field_and_the_rest_proceed() {
    let s = Scratch::new("badlines");
    let cfg = disabled_config(&s);
    let input = s.write(
        "in.jsonl",
        concat!(
            r#"{"id":"ok-1","email":"a@b.co","score":"hot","reasoning":"r","evaluated_at":"2026-11-28T09:15:00Z"}"#, "\n",
            "{not json\n",
            r#"{"id":"bad-score","email":"a@b.co","score":"lukewarm","reasoning":"r","evaluated_at":"2026-11-28T09:15:00Z"}"#, "\n",
            r#"{"id":"no-offset","email":"a@b.co","score":"hot","reasoning":"r","evaluated_at":"2026-11-28T09:15:00"}"#, "\n",
            r#"{"id":"bad-email","email":"not an email","score":"hot","reasoning":"r","evaluated_at":"2026-11-28T09:15:00Z"}"#, "\n",
            r#"{"id":"ok-2","email":"c@d.co","score":"cold","reasoning":"","evaluated_at":"2026-11-28T09:15:00+01:00"}"#, "\n",
        ),
    );
    let o = trailspark(
        &[
            "sync",
            "--config",
            path_str(&cfg),
            "--input",
            path_str(&input),
        ],
        &[],
        None,
    )
    .await;
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let l = lines(&o);
    assert_eq!(l.len(), 6, "one line per input line");
    let outcome = |i: usize| l[i]["outcome"].as_str().unwrap_or("").to_string();
    assert_eq!(outcome(0), "skipped");
    assert_eq!(l[0]["reason"], "destination_disabled");
    for (i, field) in [
        (1, "not valid JSON"),
        (2, "score:"),
        (3, "evaluated_at:"),
        (4, "email:"),
    ] {
        assert_eq!(outcome(i), "rejected");
        assert_eq!(l[i]["reason"], "invalid_input");
        let msg = l[i]["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(field), "line {i}: {msg}");
    }
    assert!(
        l[3]["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no time zone offset")
    );
    assert_eq!(l[2]["id"], "bad-score");
    assert_eq!(l[1]["line"], 2);
    assert_eq!(outcome(5), "skipped");
    let err = stderr(&o);
    assert!(
        err.contains("6 evaluations") && err.contains("2 skipped") && err.contains("4 rejected"),
        "{err}"
    );
}

#[tokio::test]
async fn csv_from_stdin_is_sniffed() {
    let s = Scratch::new("csvstdin");
    let cfg = disabled_config(&s);
    let csv = "id,email,score,reasoning,evaluated_at,propensity,first_name,last_name,company,title\n\
               c-1,a@b.co,HOT,\"long, quoted\",2026-11-28T09:15:00Z,high,Ada,,,\n\
               c-2,a@b.co,tepid,,2026-11-28T09:15:00Z,,,,,\n";
    let o = trailspark(
        &[
            "sync",
            "--config",
            path_str(&cfg),
            "--input",
            "-",
            "--dry-run",
        ],
        &[],
        Some(csv),
    )
    .await;
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let l = lines(&o);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["id"], "c-1");
    assert_eq!(l[0]["dry_run"], true);
    assert_eq!(l[1]["outcome"], "rejected");
    assert!(
        l[1]["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("score")
    );
}
