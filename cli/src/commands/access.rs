//! `gatehouse access`: access governance through the control plane's API, as yourself
//! (`GATEHOUSE_TOKEN`).

use super::Exit;
use super::access_review::ReviewCommand;
use clap::Subcommand;

/// `gatehouse access ...`
#[derive(Subcommand)]
pub enum AccessCommand {
    /// Periodic access reviews (SOC 2 CC6.2/CC6.3): start, list, show, decide, close.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
}

/// Runs one `gatehouse access` command against the control plane at `url`.
pub async fn run(url: &str, command: AccessCommand) -> Result<(), Exit> {
    match command {
        AccessCommand::Review { command } => super::access_review::run(url, command).await,
    }
}
