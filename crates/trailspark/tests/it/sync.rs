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

/// Runs `trailspark sync --config CFG --input INPUT EXTRA...` with `envs`.
async fn run_sync(cfg: &Path, input: &Path, extra: &[&str], envs: &[(&str, String)]) -> Output {
    let mut args = vec![
        "sync",
        "--config",
        path_str(cfg),
        "--input",
        path_str(input),
    ];
    args.extend_from_slice(extra);
    trailspark(&args, envs, None).await
}

/// Asserts the exit code, showing stderr when it differs.
#[track_caller]
fn assert_exit(o: &Output, expected: i32) {
    assert_eq!(code(o), expected, "{}", stderr(o));
}

/// A report line's `(outcome, reason)`.
fn outcome_reason(line: &Value) -> (Option<&str>, Option<&str>) {
    (line["outcome"].as_str(), line["reason"].as_str())
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
    let o = run_sync(&cfg, &input, &[], &[]).await;
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("config.toml: destinations.salesforce.person_match: expected \"contact_first\" or \"both\", got \"contacts\""), "{err}");
}

#[tokio::test]
async fn missing_config_file_exits_2() {
    let s = Scratch::new("nocfg");
    let input = s.write("in.jsonl", "");
    let missing = s.0.join("nope.toml");
    let o = run_sync(&missing, &input, &[], &[]).await;
    assert_exit(&o, 2);
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
    let o = run_sync(&cfg, &missing, &[], &[]).await;
    assert_exit(&o, 2);
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
    let o = run_sync(&cfg, &input, &[], &[]).await;
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("0 evaluations"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

#[tokio::test]
async fn csv_without_required_columns_exits_2() {
    let s = Scratch::new("csvhdr");
    let cfg = disabled_config(&s);
    let input = s.write("in.csv", "id,email,score\nx,a@b.co,hot\n");
    let o = run_sync(&cfg, &input, &[], &[]).await;
    assert_exit(&o, 2);
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
    let o = run_sync(&cfg, &input, &[], &[]).await;
    assert_exit(&o, 1);
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
    assert_exit(&o, 1);
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

// ---------------------------------------------------------------- against the emulated org

/// An emulated org with Lead/Contact/Account metadata and no records (plus `scenario`).
pub async fn org(scenario: &str) -> sfsim::RunningOrg {
    let org = sfsim::start(sfsim::Options::default())
        .await
        .expect("sfsim starts");
    org.control()
        .load_scenario_str(&format!("base = \"empty\"\n{scenario}"))
        .expect("scenario loads");
    org
}

/// The environment the child process reads its secrets from.
pub fn envs(org: &sfsim::RunningOrg) -> Vec<(&'static str, String)> {
    vec![
        ("SF_RT", org.refresh_token()),
        ("SF_CS", org.client_secret().to_string()),
    ]
}

/// The config for `org` (refresh-token auth, secrets from the environment).
pub fn org_config(org: &sfsim::RunningOrg, destination_extra: &str) -> String {
    config(org.url(), org.client_id(), destination_extra).replace(
        "refresh_token_env = \"SF_RT\"",
        "refresh_token_env = \"SF_RT\"\nclient_secret_env = \"SF_CS\"",
    )
}

pub fn insert(org: &sfsim::RunningOrg, object: &str, fields: Value) -> String {
    org.control()
        .insert(object, fields)
        .unwrap_or_else(|e| panic!("insert {object}: {e:?}"))
}

pub fn record(org: &sfsim::RunningOrg, id: &str) -> Value {
    org.control()
        .record(id)
        .unwrap_or_else(|| panic!("record {id} exists"))
}

/// A Contact with just a last name and an email; returns its id.
fn contact(org: &sfsim::RunningOrg, last_name: &str, email: &str) -> String {
    insert(
        org,
        "Contact",
        serde_json::json!({"LastName": last_name, "Email": email}),
    )
}

/// An open Lead of company "X"; returns its id.
fn lead(org: &sfsim::RunningOrg, last_name: &str, email: &str) -> String {
    insert(
        org,
        "Lead",
        serde_json::json!({"LastName": last_name, "Company": "X", "Email": email}),
    )
}

fn ev(id: &str, email: &str, score: &str, at: &str) -> Value {
    serde_json::json!({"id": id, "email": email, "score": score, "reasoning": format!("reasoning of {id}"), "evaluated_at": at})
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

/// Writes the evaluations as JSON Lines and runs `sync` on them against `org`.
async fn sync(
    org: &sfsim::RunningOrg,
    destination_extra: &str,
    evs: &[Value],
    extra_args: &[&str],
) -> Output {
    let s = Scratch::new("sync");
    let cfg = s.write("config.toml", &org_config(org, destination_extra));
    let text: String = evs.iter().map(|v| format!("{v}\n")).collect();
    let input = s.write("in.jsonl", &text);
    run_sync(&cfg, &input, extra_args, &envs(org)).await
}

const T: &str = "2026-11-28T09:15:00Z";

#[tokio::test(flavor = "multi_thread")]
async fn updates_the_contact_and_its_account_with_exact_values() {
    let org = org("").await;
    let acc = insert(
        &org,
        "Account",
        serde_json::json!({"Name": "Analytical Engines"}),
    );
    let c = insert(
        &org,
        "Contact",
        serde_json::json!({"LastName": "Lovelace", "Email": "Ada.Lovelace@Example.com", "AccountId": acc}),
    );
    let e = with(
        ev(
            "ev-1",
            "  ada.lovelace@EXAMPLE.com ",
            "HOT",
            "2026-11-28T10:15:00+01:00",
        ),
        "propensity",
        "high".into(),
    );
    let o = sync(&org, "", &[e], &[]).await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "updated", "{}", l[0]);
    assert_eq!(l[0]["email"], "ada.lovelace@example.com");
    assert_eq!(l[0]["writes"][0]["object"], "Contact");
    assert_eq!(l[0]["writes"][0]["id"], c.as_str());
    assert_eq!(l[0]["writes"][1]["object"], "Account");
    let r = record(&org, &c);
    assert_eq!(r["TrailSpark_Score__c"], "hot");
    assert_eq!(r["TrailSpark_Reasoning__c"], "reasoning of ev-1");
    let date = r["TrailSpark_Evaluation_Date__c"].as_str().unwrap_or("");
    assert!(date.starts_with("2026-11-28T09:15:00.000"), "{date}");
    assert_eq!(
        record(&org, &acc)["TrailSpark_Propensity__c"],
        "high_propensity"
    );
    let err = stderr(&o);
    assert!(
        err.contains("1 updated") && err.contains("Salesforce API call"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn contact_wins_over_lead() {
    let org = org("").await;
    let c = contact(&org, "A", "p@x.com");
    let l = lead(&org, "A", "p@x.com");
    let o = sync(&org, "", &[ev("e", "p@x.com", "warm", T)], &[]).await;
    assert_exit(&o, 0);
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], "warm");
    assert_eq!(record(&org, &l)["TrailSpark_Score__c"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn person_match_both_writes_contact_and_lead() {
    let org = org("").await;
    let c = contact(&org, "A", "p@x.com");
    let l = lead(&org, "A", "p@x.com");
    let o = sync(
        &org,
        "person_match = \"both\"",
        &[ev("e", "p@x.com", "warm", T)],
        &[],
    )
    .await;
    assert_exit(&o, 0);
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], "warm");
    assert_eq!(record(&org, &l)["TrailSpark_Score__c"], "warm");
}

#[tokio::test(flavor = "multi_thread")]
async fn lead_gets_score_and_lead_propensity_when_no_contact() {
    let org = org("").await;
    let l = lead(&org, "A", "lead@x.com");
    let o = sync(
        &org,
        "",
        &[with(
            ev("e", "lead@x.com", "cold", T),
            "propensity",
            "low".into(),
        )],
        &[],
    )
    .await;
    assert_exit(&o, 0);
    let r = record(&org, &l);
    assert_eq!(r["TrailSpark_Score__c"], "cold");
    assert_eq!(r["TrailSpark_Propensity__c"], "low_propensity");
}

#[tokio::test(flavor = "multi_thread")]
async fn converted_lead_follows_its_contact() {
    let org = org("").await;
    let acc = insert(&org, "Account", serde_json::json!({"Name": "Acme"}));
    let c = insert(
        &org,
        "Contact",
        serde_json::json!({"LastName": "C", "Email": "new.address@acme.com", "AccountId": acc}),
    );
    let l = insert(
        &org,
        "Lead",
        serde_json::json!({"LastName": "C", "Company": "Acme", "Email": "old@acme.com", "IsConverted": true, "ConvertedContactId": c, "ConvertedAccountId": acc, "Status": "Closed - Converted"}),
    );
    let o = sync(&org, "", &[ev("e", "old@acme.com", "hot", T)], &[]).await;
    assert_exit(&o, 0);
    let line = &lines(&o)[0];
    assert_eq!(line["writes"][0]["id"], c.as_str(), "{line}");
    assert_eq!(line["warnings"][0]["code"], "converted_lead_followed");
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], "hot");
    assert_eq!(record(&org, &l)["TrailSpark_Score__c"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_all_most_recent_and_skip() {
    let org = org("").await;
    let l1 = lead(&org, "A", "dup@x.com");
    let l2 = lead(&org, "B", "DUP@x.com");
    // skip: nothing written, skipped with the ids.
    let o = sync(
        &org,
        "duplicates = \"skip\"",
        &[ev("e1", "dup@x.com", "cold", "2026-11-28T09:00:00Z")],
        &[],
    )
    .await;
    let line = &lines(&o)[0];
    assert_eq!(
        outcome_reason(line),
        (Some("skipped"), Some("duplicate_match")),
        "{line}"
    );
    assert_eq!(line["warnings"][0]["ids"].as_array().map(Vec::len), Some(2));
    assert_eq!(record(&org, &l1)["TrailSpark_Score__c"], Value::Null);
    // most_recent: only the last modified one (l1 after this touch).
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    org.control()
        .update(&l1, serde_json::json!({"Title": "touched"}))
        .expect("touch");
    let o = sync(
        &org,
        "duplicates = \"most_recent\"",
        &[ev("e2", "dup@x.com", "warm", "2026-11-28T10:00:00Z")],
        &[],
    )
    .await;
    assert_exit(&o, 0);
    assert_eq!(record(&org, &l1)["TrailSpark_Score__c"], "warm");
    assert_eq!(record(&org, &l2)["TrailSpark_Score__c"], Value::Null);
    // all: both, with a duplicate_match warning.
    let o = sync(
        &org,
        "",
        &[ev("e3", "dup@x.com", "hot", "2026-11-28T11:00:00Z")],
        &[],
    )
    .await;
    let line = &lines(&o)[0];
    assert_eq!(line["warnings"][0]["code"], "duplicate_match", "{line}");
    assert_eq!(record(&org, &l1)["TrailSpark_Score__c"], "hot");
    assert_eq!(record(&org, &l2)["TrailSpark_Score__c"], "hot");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_account_write_per_batch_with_the_newest_propensity() {
    let org = org("").await;
    let acc = insert(&org, "Account", serde_json::json!({"Name": "Acme"}));
    let a = insert(
        &org,
        "Contact",
        serde_json::json!({"LastName": "A", "Email": "a@acme.com", "AccountId": acc}),
    );
    let b = insert(
        &org,
        "Contact",
        serde_json::json!({"LastName": "B", "Email": "b@acme.com", "AccountId": acc}),
    );
    let loner = contact(&org, "L", "loner@x.com");
    let evs = [
        with(
            ev("e1", "a@acme.com", "hot", "2026-11-28T10:00:00Z"),
            "propensity",
            "high".into(),
        ),
        with(
            ev("e2", "b@acme.com", "hot", "2026-11-28T09:00:00Z"),
            "propensity",
            "low".into(),
        ),
        with(
            ev("e3", "loner@x.com", "hot", T),
            "propensity",
            "low".into(),
        ),
    ];
    org.control().clear_calls();
    let o = sync(&org, "", &evs, &[]).await;
    assert_exit(&o, 0);
    assert_eq!(
        record(&org, &acc)["TrailSpark_Propensity__c"],
        "high_propensity"
    );
    let l = lines(&o);
    let account_writes = l
        .iter()
        .flat_map(|x| x["writes"].as_array().cloned().unwrap_or_default())
        .filter(|w| w["object"] == "Account")
        .count();
    assert_eq!(account_writes, 1);
    // A Contact without an Account gets its score but no propensity anywhere.
    assert_eq!(record(&org, &loner)["TrailSpark_Score__c"], "hot");
    assert_eq!(l[2]["writes"].as_array().map(Vec::len), Some(1));
    assert_eq!(record(&org, &a)["TrailSpark_Score__c"], "hot");
    assert_eq!(record(&org, &b)["TrailSpark_Score__c"], "hot");
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_a_lead_only_for_selected_score_levels() {
    let org = org("").await;
    let cfg = "[destinations.salesforce.create_records]\nenabled = true\nscore_levels = [\"hot\"]";
    let hot = with(
        ev("h", "New.Person@Startup.io", "hot", T),
        "person",
        serde_json::json!({"first_name": "New"}),
    );
    let o = sync(
        &org,
        cfg,
        &[
            hot,
            ev("c", "cold@startup.io", "cold", T),
            ev("w", "w@startup.io", "warm", T),
        ],
        &[],
    )
    .await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "created", "{}", l[0]);
    assert_eq!(
        outcome_reason(&l[1]),
        (Some("skipped"), Some("score_not_selected_for_creation"))
    );
    let id = l[0]["writes"][0]["id"].as_str().expect("new id");
    let r = record(&org, id);
    assert_eq!(r["Email"], "New.Person@Startup.io");
    assert_eq!(r["FirstName"], "New");
    assert_eq!(r["LastName"], "[not provided]");
    assert_eq!(r["Company"], "[not provided]");
    assert_eq!(r["TrailSpark_Score__c"], "hot");
    // Without creation: no match.
    let o = sync(&org, "", &[ev("x", "nobody@nowhere.io", "hot", T)], &[]).await;
    assert_eq!(lines(&o)[0]["reason"], "no_match");
    // Sending the created one again finds the Lead: no second record.
    let o = sync(
        &org,
        cfg,
        &[ev(
            "h2",
            "new.person@startup.io",
            "hot",
            "2026-11-29T09:00:00Z",
        )],
        &[],
    )
    .await;
    assert_eq!(lines(&o)[0]["outcome"], "updated");
    assert_eq!(
        org.control()
            .query("SELECT Id FROM Lead WHERE Email = 'new.person@startup.io'")
            .map(|v| v.len())
            .ok(),
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_a_contact_under_the_account_of_the_email_domain_else_a_lead() {
    let org = org("").await;
    let acc = insert(
        &org,
        "Account",
        serde_json::json!({"Name": "Example", "Website": "https://www.Example.com/about", "TrailSpark_Propensity__c": null}),
    );
    let cfg = "create_as = \"contact\"\n[destinations.salesforce.create_records]\nenabled = true";
    let evs = [
        with(
            with(
                ev("c", "ada@example.com", "hot", T),
                "person",
                serde_json::json!({"last_name": "Lovelace"}),
            ),
            "propensity",
            "medium".into(),
        ),
        ev("l", "bob@unknown-domain.io", "hot", T),
    ];
    let o = sync(&org, cfg, &evs, &[]).await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(l[0]["writes"][0]["object"], "Contact", "{}", l[0]);
    let c = record(&org, l[0]["writes"][0]["id"].as_str().expect("id"));
    assert_eq!(c["AccountId"], acc.as_str());
    assert_eq!(c["LastName"], "Lovelace");
    assert_eq!(
        record(&org, &acc)["TrailSpark_Propensity__c"],
        "medium_propensity"
    );
    assert_eq!(l[1]["writes"][0]["object"], "Lead");
    assert_eq!(l[1]["warnings"][0]["code"], "no_account_for_domain");
}

#[tokio::test(flavor = "multi_thread")]
async fn newest_evaluation_in_the_file_wins() {
    let org = org("").await;
    let c = contact(&org, "A", "p@x.com");
    let evs = [
        ev("old", "p@x.com", "cold", "2026-11-28T08:00:00Z"),
        ev("new", "P@X.com", "hot", "2026-11-28T09:00:00Z"),
    ];
    let o = sync(&org, "", &evs, &[]).await;
    let l = lines(&o);
    assert_eq!(
        outcome_reason(&l[0]),
        (Some("superseded"), Some("newer_evaluation_in_batch"))
    );
    assert_eq!(l[1]["outcome"], "updated");
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], "hot");
}

#[tokio::test(flavor = "multi_thread")]
async fn newer_evaluation_already_in_salesforce_wins() {
    let org = org("").await;
    let c = insert(
        &org,
        "Contact",
        serde_json::json!({"LastName": "A", "Email": "p@x.com", "TrailSpark_Score__c": "cold", "TrailSpark_Evaluation_Date__c": "2026-12-01T00:00:00.000+0000"}),
    );
    let o = sync(&org, "", &[ev("e", "p@x.com", "hot", T)], &[]).await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(
        outcome_reason(&l[0]),
        (Some("superseded"), Some("newer_evaluation_in_salesforce"))
    );
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], "cold");
}

#[tokio::test(flavor = "multi_thread")]
async fn resending_is_unchanged_and_writes_nothing() {
    let org = org("").await;
    let c = contact(&org, "A", "p@x.com");
    let e = ev("e", "p@x.com", "hot", "2026-11-28T10:15:00+01:00");
    let o = sync(&org, "", std::slice::from_ref(&e), &[]).await;
    assert_eq!(lines(&o)[0]["outcome"], "updated");
    let modified = record(&org, &c)["LastModifiedDate"].clone();
    org.control().clear_calls();
    let o = sync(&org, "", &[e], &[]).await;
    assert_eq!(lines(&o)[0]["outcome"], "unchanged", "{}", stdout(&o));
    assert_eq!(record(&org, &c)["LastModifiedDate"], modified);
    let writes = org
        .control()
        .calls()
        .iter()
        .filter(|c| {
            matches!(
                c.kind,
                sfsim::control::CallKind::CollectionsUpdate
                    | sfsim::control::CallKind::CollectionsCreate
            )
        })
        .count();
    assert_eq!(writes, 0, "no write call on an unchanged record");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_writes_nothing() {
    let org = org("").await;
    let c = contact(&org, "A", "p@x.com");
    let o = sync(&org, "", &[ev("e", "p@x.com", "hot", T)], &["--dry-run"]).await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "updated");
    assert_eq!(l[0]["dry_run"], true);
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], Value::Null);
    assert!(stderr(&o).contains("dry run"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reasoning_is_cut_to_the_field_length_with_a_warning() {
    let org = org("[[fields]]\nobject = \"Contact\"\nname = \"TrailSpark_Reasoning__c\"\ntype = \"textarea\"\nlength = 300\n").await;
    let c = contact(&org, "A", "p@x.com");
    let long = "x".repeat(500);
    let o = sync(
        &org,
        "",
        &[with(ev("e", "p@x.com", "hot", T), "reasoning", long.into())],
        &[],
    )
    .await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(
        l[0]["warnings"][0],
        serde_json::json!({"code": "reasoning_truncated", "length": 300})
    );
    let stored = record(&org, &c)["TrailSpark_Reasoning__c"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_eq!(stored.chars().count(), 300);
    assert!(stored.ends_with('…'));
}

#[tokio::test(flavor = "multi_thread")]
async fn emails_with_quotes_are_matched_and_escaped_safely() {
    let org = org("").await;
    let c = contact(&org, "O'Brien", "o'brien@example.com");
    let other = contact(&org, "X", "x@example.com");
    // A quote that would end the literal, then an injection attempt.
    let evil = r#""x@example.com') OR (Email != '"@example.com"#;
    // A quoted local part with a backslash escape: the SOQL literal must double it.
    let slashed = r#""we\\ird"@example.com"#;
    let s = insert(
        &org,
        "Contact",
        serde_json::json!({"LastName": "S", "Email": slashed}),
    );
    let evs = [
        ev("q", "O'Brien@example.com", "hot", T),
        ev("inj", evil, "hot", T),
        ev("s", slashed, "cold", T),
    ];
    let o = sync(&org, "", &evs, &[]).await;
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "updated", "{}", l[0]);
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], "hot");
    assert_ne!(l[1]["outcome"], "updated", "{}", l[1]);
    assert_eq!(record(&org, &other)["TrailSpark_Score__c"], Value::Null);
    assert_eq!(l[2]["outcome"], "updated", "{}", l[2]);
    assert_eq!(record(&org, &s)["TrailSpark_Score__c"], "cold");
}

#[tokio::test(flavor = "multi_thread")]
async fn destination_disabled_makes_no_api_call() {
    let org = org("").await;
    contact(&org, "A", "p@x.com");
    org.control().clear_calls();
    let o = sync(
        &org,
        "enabled = false",
        &[ev("e", "p@x.com", "hot", T)],
        &[],
    )
    .await;
    assert_exit(&o, 0);
    assert_eq!(lines(&o)[0]["reason"], "destination_disabled");
    assert_eq!(org.control().api_calls_counted(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn object_not_mapped_is_skipped() {
    let org = org("").await;
    lead(&org, "A", "p@x.com");
    let s = Scratch::new("notmapped");
    let text = org_config(&org, "")
        .replace("[destinations.salesforce.lead]\nscore_field = \"TrailSpark_Score__c\"\nevaluation_date_field = \"TrailSpark_Evaluation_Date__c\"\nreasoning_field = \"TrailSpark_Reasoning__c\"\n", "")
        .replace("lead_field = \"TrailSpark_Propensity__c\"\n", "");
    let cfg = s.write("c.toml", &text);
    let input = s.write("in.jsonl", &format!("{}\n", ev("e", "p@x.com", "hot", T)));
    let o = run_sync(&cfg, &input, &[], &envs(&org)).await;
    let l = lines(&o);
    assert_eq!(
        outcome_reason(&l[0]),
        (Some("skipped"), Some("object_not_mapped")),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_rule_failure_is_reported_with_its_message_and_exit_1() {
    let org = org(
        "[[validation_rules]]\nname = \"No_Cold\"\nobject = \"Lead\"\nmessage = \"Cold leads are not allowed\"\nerror_field = \"TrailSpark_Score__c\"\ncondition = { kind = \"equals\", field = \"TrailSpark_Score__c\", value = \"cold\" }\n",
    )
    .await;
    lead(&org, "A", "cold@x.com");
    lead(&org, "B", "hot@x.com");
    let o = sync(
        &org,
        "",
        &[
            ev("c", "cold@x.com", "cold", T),
            ev("h", "hot@x.com", "hot", T),
        ],
        &[],
    )
    .await;
    assert_exit(&o, 1);
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "failed");
    assert_eq!(l[0]["error"]["code"], "FIELD_CUSTOM_VALIDATION_EXCEPTION");
    assert!(
        l[0]["error"]["hint"]
            .as_str()
            .unwrap_or("")
            .contains("Cold leads are not allowed"),
        "{}",
        l[0]
    );
    assert_eq!(l[1]["outcome"], "updated");
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_rule_blocks_a_create_and_allow_duplicate_save_passes_an_alert_rule() {
    let block = "[[duplicate_rules]]\nname = \"Lead_Block\"\nobject = \"Lead\"\nfield = \"LastName\"\naction = \"block\"\n";
    let org_b = org(block).await;
    let existing = lead(&org_b, "[not provided]", "someone@else.com");
    let cfg = "[destinations.salesforce.create_records]\nenabled = true";
    let o = sync(&org_b, cfg, &[ev("d", "new@x.com", "hot", T)], &[]).await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let l = lines(&o);
    assert_eq!(l[0]["error"]["code"], "DUPLICATES_DETECTED", "{}", l[0]);
    assert_eq!(
        l[0]["error"]["ids"],
        serde_json::json!([existing]),
        "{}",
        l[0]
    );
    assert!(
        l[0]["error"]["hint"]
            .as_str()
            .unwrap_or("")
            .contains("allow_duplicate_save")
    );

    let alert = block.replace("\"block\"", "\"alert\"");
    let org_a = org(&alert).await;
    lead(&org_a, "[not provided]", "someone@else.com");
    let o = sync(
        &org_a,
        &format!("allow_duplicate_save = true\n{cfg}"),
        &[ev("d", "new@x.com", "hot", T)],
        &[],
    )
    .await;
    assert_eq!(lines(&o)[0]["outcome"], "created", "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn locked_record_fails_as_transient_after_the_retries() {
    let org = org("").await;
    let c = contact(&org, "A", "p@x.com");
    let other = contact(&org, "B", "q@x.com");
    org.control().lock_records(&[c.as_str()], None);
    let evs = [ev("e", "p@x.com", "hot", T), ev("f", "q@x.com", "cold", T)];
    let o = sync(&org, "", &evs, &["--retries", "1"]).await;
    assert_exit(&o, 1);
    let l = lines(&o);
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["id"], "e", "input order kept");
    assert_eq!(l[0]["error"]["code"], "UNABLE_TO_LOCK_ROW", "{}", l[0]);
    assert_eq!(l[0]["error"]["transient"], true);
    assert_eq!(l[1]["outcome"], "updated", "{}", l[1]);
    assert_eq!(record(&org, &other)["TrailSpark_Score__c"], "cold");
    assert_ne!(record(&org, &c)["TrailSpark_Score__c"], "hot");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_that_clears_is_retried_and_written() {
    let org = org("").await;
    let c = contact(&org, "A", "p@x.com");
    org.control().lock_records(&[c.as_str()], Some(1));
    let o = sync(&org, "", &[ev("e", "p@x.com", "hot", T)], &[]).await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(l.len(), 1, "one report line per evaluation");
    assert_eq!(l[0]["outcome"], "updated", "{}", l[0]);
    assert_eq!(record(&org, &c)["TrailSpark_Score__c"], "hot");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_whose_answer_was_lost_is_reported_created_by_the_retry_that_finds_it() {
    let org = org("").await;
    // The create is committed, then answered 500: the retry finds the Lead in place.
    org.control().commit_late(1, std::time::Duration::ZERO);
    let cfg = "[destinations.salesforce.create_records]\nenabled = true";
    let o = sync(&org, cfg, &[ev("e", "new@x.com", "hot", T)], &[]).await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(l[0]["outcome"], "created", "{}", l[0]);
    assert_eq!(l[0]["writes"][0]["action"], "create");
    assert_eq!(l[0]["writes"][0]["object"], "Lead");
    let found = org
        .control()
        .query("SELECT Id FROM Lead WHERE Email = 'new@x.com'")
        .expect("query");
    assert_eq!(found.len(), 1, "one Lead");
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_0_reports_the_first_transient_failure() {
    let org = org("").await;
    let c = contact(&org, "A", "p@x.com");
    org.control().lock_records(&[c.as_str()], Some(1));
    let o = sync(
        &org,
        "",
        &[ev("e", "p@x.com", "hot", T)],
        &["--retries", "0"],
    )
    .await;
    assert_exit(&o, 1);
    let l = lines(&o);
    assert_eq!(l[0]["error"]["code"], "UNABLE_TO_LOCK_ROW", "{}", l[0]);
    assert_eq!(l[0]["error"]["transient"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_failure_exits_2() {
    let org = org("").await;
    let s = Scratch::new("auth");
    let cfg = s.write("c.toml", &org_config(&org, ""));
    let input = s.write("in.jsonl", &format!("{}\n", ev("e", "p@x.com", "hot", T)));
    let env = vec![
        ("SF_RT", "revoked-or-wrong".to_string()),
        ("SF_CS", org.client_secret().to_string()),
    ];
    let o = run_sync(&cfg, &input, &[], &env).await;
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("integrations.sim: cannot sign in to Salesforce"),
        "{}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains("revoked-or-wrong"),
        "secrets never printed"
    );
    assert!(stdout(&o).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_file_is_delivered() {
    let org = org("").await;
    let c = contact(&org, "A", "p@x.com");
    let s = Scratch::new("csv");
    let cfg = s.write("c.toml", &org_config(&org, ""));
    let input = s.write(
        "in.csv",
        "id,email,score,reasoning,evaluated_at,propensity,first_name,last_name,company,title\nc1,P@x.com,Warm,\"multi-line\nreasoning, with comma\",2026-11-28T09:15:00Z,,,,,\n",
    );
    let out = s.0.join("report.jsonl");
    let o = run_sync(&cfg, &input, &["--output", path_str(&out)], &envs(&org)).await;
    assert_exit(&o, 0);
    let report = std::fs::read_to_string(&out).expect("report written");
    assert!(report.contains("\"outcome\":\"updated\""), "{report}");
    assert_eq!(
        record(&org, &c)["TrailSpark_Reasoning__c"],
        "multi-line\nreasoning, with comma"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_file_is_batched_in_input_order_with_few_api_calls() {
    let org = org("").await;
    for i in 0..300 {
        insert(
            &org,
            "Contact",
            serde_json::json!({"LastName": format!("P{i}"), "Email": format!("p{i}@x.com")}),
        );
    }
    org.control().clear_calls();
    let evs: Vec<Value> = (0..300)
        .map(|i| ev(&format!("e{i}"), &format!("p{i}@x.com"), "hot", T))
        .collect();
    let o = sync(&org, "", &evs, &["--batch-size", "150"]).await;
    assert_exit(&o, 0);
    let l = lines(&o);
    assert_eq!(l.len(), 300);
    assert!(
        l.iter()
            .enumerate()
            .all(|(i, x)| x["id"] == format!("e{i}").as_str() && x["outcome"] == "updated")
    );
    // Per batch of 150: 1 lookup Composite + 1 write Composite; plus 2 describes (and identity/other reads).
    let counted = org.control().api_calls_counted();
    assert!(counted <= 8, "{counted} API calls for 300 evaluations");
}

#[tokio::test(flavor = "multi_thread")]
async fn delivery_pauses_when_daily_api_usage_passes_the_share() {
    let org = org("").await;
    for i in 0..3 {
        insert(
            &org,
            "Contact",
            serde_json::json!({"LastName": "A", "Email": format!("p{i}@x.com")}),
        );
    }
    // 90 of 100 daily calls used: above the default pause_at_api_usage of 0.8.
    org.control().set_daily_limit(100);
    org.control().set_api_used(90);
    let evs: Vec<Value> = (0..3)
        .map(|i| ev(&format!("e{i}"), &format!("p{i}@x.com"), "hot", T))
        .collect();
    let o = sync(&org, "", &evs, &["--batch-size", "1"]).await;
    assert_exit(&o, 1);
    let l = lines(&o);
    // The first batch learns the usage from Salesforce's answers; the rest wait.
    assert_eq!(l[0]["outcome"], "updated", "{}", l[0]);
    for x in &l[1..] {
        assert_eq!(x["error"]["code"], "API_USAGE_PAUSED", "{x}");
        assert_eq!(x["error"]["transient"], true);
    }
    assert!(stderr(&o).contains("pause_at_api_usage"), "{}", stderr(&o));
    let writes = org
        .control()
        .calls()
        .iter()
        .filter(|c| c.kind == sfsim::control::CallKind::CollectionsUpdate)
        .count();
    assert_eq!(writes, 1, "only the first batch wrote");
}
