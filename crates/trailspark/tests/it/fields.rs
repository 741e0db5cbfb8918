//! `trailspark fields` end to end.

use std::process::Output;

use crate::sync::{Scratch, code, envs, org_config, stderr, stdout, trailspark};

/// Runs `trailspark fields --integration INTEGRATION --object OBJECT` against the default
/// emulated org (its integration is named "sim").
async fn fields(tag: &str, integration: &str, object: &str) -> Output {
    let org = sfsim::start(sfsim::Options::default())
        .await
        .expect("sfsim starts");
    let s = Scratch::new(tag);
    let cfg = s.write("c.toml", &org_config(&org, ""));
    trailspark(
        &[
            "fields",
            "--config",
            cfg.to_str().expect("utf-8"),
            "--integration",
            integration,
            "--object",
            object,
        ],
        &envs(&org),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_label_api_name_type_length_and_writable() {
    // The default org: TrailSpark fields plus a formula field that cannot be written.
    let o = fields("fields", "sim", "Lead").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("LABEL"), "{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} listed: {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        row("TrailSpark_Score__c").ends_with("TrailSpark_Score__c string 255 yes"),
        "{}",
        row("TrailSpark_Score__c")
    );
    assert!(row("TrailSpark_Evaluation_Date__c").ends_with("datetime yes"));
    assert!(
        row("Email_Domain__c").ends_with(" no"),
        "{}",
        row("Email_Domain__c")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_integration_exits_2() {
    let o = fields("fields2", "prod", "Contact").await;
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("integrations.prod"), "{}", stderr(&o));
}
