use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub async fn run(_args: Args) -> ExitCode {
    eprintln!("not built yet");
    ExitCode::from(2)
}
