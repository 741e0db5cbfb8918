//! The one place the service benchmarks write their figures: each owns a section of
//! `docs/benchmarks.md` between `<!-- NAME:start -->` and `<!-- NAME:end -->` and replaces
//! it whole on every run (appended at the end the first time).

use std::path::PathBuf;

/// `docs/benchmarks.md` of this repository.
pub fn benchmarks_md() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md")
}

/// The document as it stands (a bare title when it does not exist yet).
pub fn read() -> String {
    std::fs::read_to_string(benchmarks_md()).unwrap_or_else(|_| "# Benchmarks\n".into())
}

/// Replaces the section `section` (which starts with `start` and ends with `end`) and
/// prints it.
pub fn write(start: &str, end: &str, section: &str) -> std::io::Result<()> {
    let old = read();
    let new = match (old.find(start), old.find(end)) {
        (Some(a), Some(b)) if b > a => format!(
            "{}{}{}",
            &old[..a],
            section.trim_end(),
            &old[b + end.len()..]
        ),
        _ => format!("{}\n\n{}", old.trim_end(), section),
    };
    std::fs::write(benchmarks_md(), new)?;
    println!("{section}");
    Ok(())
}
