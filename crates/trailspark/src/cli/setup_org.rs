//! `trailspark setup-org`: creates TrailSpark's custom fields in the org of an integration
//! and gives the integration user Read+Edit on them through the `TrailSpark_Integration`
//! permission set — one idempotent step. Prints the plan, applies it (unless `--dry-run`),
//! prints what was done and the API calls spent.
//!
//! Exit 0: done, or nothing to do (and with `--dry-run` whatever the plan); 1: a field
//! failed or needs the admin (it exists but cannot hold its value); 2: nothing could be
//! attempted (config, sign-in, reading the org).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use delivery::setup::{
    self, Access, ApplyReport, FieldAction, PERMISSION_SET_LABEL, PERMISSION_SET_NAME,
    PermissionSetStep, SetupOptions, SetupPlan,
};
use salesforce::Assignment;

use super::common::{EXIT_CANNOT_START, EXIT_PROBLEMS, connect, load_config, print_error};

#[derive(clap::Args)]
#[command(after_help = "\
The fields are those [destinations.salesforce] maps when it names this integration, else the
suggested ones: TrailSpark_Score__c (Text(10)), TrailSpark_Evaluation_Date__c (Date/Time) and
TrailSpark_Reasoning__c (Long Text Area(131072)) on Lead and Contact, TrailSpark_Propensity__c
(Text(20)) on Account (and on Lead when the Lead fallback is mapped). A field that exists and
can hold its value is kept; one that cannot is reported and left as it is. Exit codes: 0 done
or nothing to do, 1 a field failed or needs you, 2 nothing could be attempted.")]
pub struct Args {
    /// The configuration file (TOML) with [integrations.NAME].
    #[arg(long)]
    pub config: PathBuf,
    /// Which [integrations.NAME] to set up.
    #[arg(long)]
    pub integration: String,
    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Create the score as a restricted picklist (hot, warm, cold) instead of Text(10).
    #[arg(long)]
    pub picklist_score: bool,
    /// Also create TrailSpark_Person_Key__c (Text(80), External ID, unique) on Lead and Contact.
    #[arg(long)]
    pub person_key: bool,
}

pub async fn run(args: Args) -> ExitCode {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(e) => return cannot_start(&e),
    };
    let Some(integ) = config.integrations.get(&args.integration) else {
        let defined: Vec<String> = config.integrations.keys().cloned().collect();
        return cannot_start(&anyhow!(
            "{}: integrations.{}: no such table (defined: {})",
            args.config.display(),
            args.integration,
            if defined.is_empty() {
                "none".into()
            } else {
                defined.join(", ")
            }
        ));
    };
    let settings = config
        .destination
        .as_ref()
        .filter(|d| d.integration == args.integration);
    let desired = setup::desired_fields(
        settings,
        SetupOptions {
            picklist_score: args.picklist_score,
            person_key: args.person_key,
        },
    );
    let client = match connect(integ).await {
        Ok(c) => c,
        Err(e) => return cannot_start(&e),
    };
    let state = match setup::read_org(&client, &desired).await {
        Ok(s) => s,
        Err(e) => {
            let hint = delivery::write::report_error(&e).hint;
            return cannot_start(&anyhow!(
                "integrations.{}: cannot read the org's fields and permission sets: {e}. {hint}",
                integ.name
            ));
        }
    };
    let plan = setup::plan(&state, &desired);
    println!(
        "plan for [integrations.{}] (integration user {}):",
        integ.name, state.user_id
    );
    print!("{}", plan_lines(&plan));
    let problems = plan.problems().count();
    let calls = |c: &salesforce::Client| format!("API calls: {}", c.calls_made());
    if args.dry_run {
        println!("dry run: nothing was written. {}", calls(&client));
        return ExitCode::SUCCESS;
    }
    if plan.is_empty() {
        println!(
            "nothing to do: every field that can be set up exists and the integration user can edit it. {}",
            calls(&client)
        );
        return exit(problems, 0);
    }
    let report = setup::apply(&client, &plan).await;
    println!("done:");
    print!("{}", report_lines(&report));
    let failures = report.failures();
    let created = report
        .fields
        .iter()
        .filter(|f| matches!(f.created, Some(Ok(_))))
        .count();
    let granted = report
        .fields
        .iter()
        .filter(|f| matches!(f.access, Some(Ok(()))))
        .count();
    if failures + problems == 0 {
        println!(
            "setup complete: {created} field(s) created, {granted} made editable. {}",
            calls(&client)
        );
    } else {
        println!(
            "setup incomplete: {failures} field(s) failed, {problems} need(s) your attention; fix them and run setup-org again (it picks up where it stopped). {}",
            calls(&client)
        );
    }
    exit(problems, failures)
}

fn exit(problems: usize, failures: usize) -> ExitCode {
    if problems + failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    }
}

fn cannot_start(e: &anyhow::Error) -> ExitCode {
    print_error(e);
    ExitCode::from(EXIT_CANNOT_START)
}

/// `  verb      subject  detail`, columns aligned.
fn line(verb: &str, subject: &str, detail: &str) -> String {
    format!("  {verb:<9} {subject:<40} {detail}")
        .trim_end()
        .to_string()
        + "\n"
}

/// The plan, one line per field, grant and permission-set step.
fn plan_lines(plan: &SetupPlan) -> String {
    let mut out = String::new();
    for f in &plan.fields {
        let full = f.full_name();
        let s = match &f.action {
            FieldAction::Create(spec) => line("create", &full, &spec.kind.to_string()),
            FieldAction::Keep => line(
                "keep",
                &full,
                &format!(
                    "holds the {}{}",
                    f.purpose.words(),
                    if f.access == Access::Has {
                        ", editable"
                    } else {
                        ""
                    }
                ),
            ),
            FieldAction::Conflict(why) => line(
                "conflict",
                &full,
                &format!(
                    "{why}; left as it is. Fix: map another field in [destinations.salesforce] or change it in Setup"
                ),
            ),
            FieldAction::CannotCreate(why) => line(
                "cannot",
                &full,
                &format!("{why}. Fix: map a custom field name in [destinations.salesforce]"),
            ),
        };
        out.push_str(&s);
    }
    for g in &plan.grants {
        out.push_str(&line(
            "grant",
            &g.field,
            &format!("Read+Edit through permission set {PERMISSION_SET_NAME}"),
        ));
    }
    for f in plan.fields.iter().filter(|f| f.access == Access::Assign) {
        out.push_str(&line(
            "access",
            &f.full_name(),
            &format!("granted by {PERMISSION_SET_NAME} once it is assigned"),
        ));
    }
    if plan.permission_set == PermissionSetStep::Create {
        out.push_str(&line(
            "create",
            &format!("permission set {PERMISSION_SET_NAME}"),
            &format!("label \"{PERMISSION_SET_LABEL}\""),
        ));
    }
    if let Some(user) = &plan.assign_to {
        out.push_str(&line(
            "assign",
            &format!("permission set {PERMISSION_SET_NAME}"),
            &format!("to the integration user {user}"),
        ));
    }
    out
}

/// What was done, one line per field and step.
fn report_lines(r: &ApplyReport) -> String {
    let mut out = String::new();
    for f in &r.fields {
        let full = f.full_name();
        match &f.created {
            Some(Ok(id)) => out.push_str(&line("created", &full, id)),
            Some(Err(e)) => out.push_str(&line("FAILED", &full, &format!("not created: {e}"))),
            None => {}
        }
        match (&f.access, &f.created) {
            (Some(Ok(())), _) => out.push_str(&line("granted", &full, "Read+Edit")),
            // Not created: said above; there was nothing to grant.
            (Some(Err(_)), Some(Err(_))) | (None, _) => {}
            (Some(Err(e)), _) => out.push_str(&line("FAILED", &full, &format!("no access: {e}"))),
        }
    }
    match &r.permission_set_created {
        Some(Ok(id)) => out.push_str(&line(
            "created",
            &format!("permission set {PERMISSION_SET_NAME}"),
            id,
        )),
        Some(Err(e)) => out.push_str(&line(
            "FAILED",
            &format!("permission set {PERMISSION_SET_NAME}"),
            &format!("not created: {e}"),
        )),
        None => {}
    }
    match &r.assignment {
        Some(Ok(Assignment::Created(_))) => out.push_str(&line(
            "assigned",
            &format!("permission set {PERMISSION_SET_NAME}"),
            "to the integration user",
        )),
        Some(Ok(Assignment::AlreadyAssigned)) => out.push_str(&line(
            "assigned",
            &format!("permission set {PERMISSION_SET_NAME}"),
            "(the integration user already held it)",
        )),
        Some(Err(e)) => out.push_str(&line(
            "FAILED",
            &format!("permission set {PERMISSION_SET_NAME}"),
            &format!("not assigned: {e}"),
        )),
        None => {}
    }
    out
}
