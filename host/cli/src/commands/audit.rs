//! `stockade audit verify`: walks the event log's hash chain in the database file itself (not
//! over the API, so a compromised server cannot vouch for its own log) and names the first row
//! that does not fit. Safe while the server runs: SQLite WAL readers see a consistent snapshot.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use stockade_storage::Database;
use stockade_storage::events::{AnchorStatus, ChainHead, VerifyReport};

/// `stockade audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole event log's hash chain and name the first bad row.
    ///
    /// Each event stores the hash of the one before it, so an edited, deleted or reordered row
    /// breaks the chain at a row this names. Rows deleted from the end, or a chain rewritten
    /// wholesale, are only caught against a head recorded earlier, outside the database: pass
    /// it with --expect-head (the `head` this command prints).
    ///
    /// Reads <data-dir>/stockade.db directly. Exit status: 0 verified, 1 tampering found,
    /// 2 the database could not be read.
    Verify(VerifyArgs),
}

/// Arguments of `stockade audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A head recorded earlier, as `SEQ:HASH`: the chain must still contain exactly that row.
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_head)]
    pub expect_head: Option<ChainHead>,
    /// Print the verification report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_head(text: &str) -> Result<ChainHead, String> {
    let (seq, hash) = text
        .split_once(':')
        .ok_or("expected SEQ:HASH, e.g. 42:9f86d0...")?;
    let seq: i64 = seq
        .parse()
        .map_err(|_| format!("SEQ {seq:?} is not a number"))?;
    if seq < 0 || hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("expected SEQ:HASH with a non-negative SEQ and a hex HASH".into());
    }
    Ok(ChainHead {
        seq,
        hash: hash.to_ascii_lowercase(),
    })
}

/// Runs an `audit` subcommand.
pub async fn run(data_dir: &Path, command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify(args) => verify(data_dir, args).await,
    }
}

async fn verify(data_dir: &Path, args: VerifyArgs) -> ExitCode {
    let path: PathBuf = data_dir.join("stockade.db");
    // Opening would create an empty database, which verifies trivially: refuse instead.
    if !path.is_file() {
        eprintln!(
            "error: no database at {} (pass the server's --data-dir)",
            path.display()
        );
        return ExitCode::from(2);
    }
    let db = match Database::open(&path.to_string_lossy()).await {
        Ok(db) => db,
        Err(err) => {
            eprintln!("error: cannot open {}: {err}", path.display());
            return ExitCode::from(2);
        }
    };
    let events = db.events();
    let report = match &args.expect_head {
        Some(anchor) => events.verify_against(anchor).await,
        None => events.verify().await,
    };
    db.close().await;
    let report = match report {
        Ok(report) => report,
        Err(err) => {
            eprintln!(
                "error: cannot read the event log in {}: {err}",
                path.display()
            );
            return ExitCode::from(2);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("error: cannot encode the report: {err}");
                return ExitCode::from(2);
            }
        }
    } else {
        print_report(&report);
    }
    if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_report(report: &VerifyReport) {
    let start = if report.start.seq == 0 {
        "genesis".to_owned()
    } else {
        format!("the retention checkpoint at seq {}", report.start.seq)
    };
    match &report.first_bad {
        None => {
            println!(
                "audit verify: ok: {} rows checked from {start}",
                report.rows_checked
            );
            println!("head: {}:{}", report.head.seq, report.head.hash);
            match report.anchor {
                Some(AnchorStatus::Matched) => println!("expected head: found"),
                Some(AnchorStatus::Pruned) => {
                    println!("expected head: already pruned by retention, not comparable");
                }
                Some(AnchorStatus::Failed | AnchorStatus::NotReached) | None => {}
            }
        }
        Some(bad) => {
            println!("audit verify: FAILED at seq {}: {}", bad.seq, bad.problem);
            println!(
                "{} rows verified from {start} up to seq {}",
                report.rows_checked, report.head.seq
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_head;

    #[test]
    fn expected_heads() {
        let head = parse_head("42:ABCdef01").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((head.seq, head.hash.as_str()), (42, "abcdef01"));
        for bad in ["42", "x:abcd", "-1:abcd", "3:", "3:xyz"] {
            assert!(parse_head(bad).is_err(), "{bad}");
        }
    }
}
