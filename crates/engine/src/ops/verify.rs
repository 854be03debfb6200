//! Verification: an artifact is checked (manifest authentication, SHA-256 of
//! every stored byte, the whole stream decrypted and decompressed) before
//! anything of it reaches a restore target, and on demand by `verify`.
//! `--deep` goes further: restore into a scratch directory and compare every
//! file with the index.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use chrono::Utc;

use crate::archive::crypto::DataKey;
use crate::archive::manifest::{BackupType, StreamInfo};
use crate::archive::pipeline;
use crate::catalog::JobKind;
use crate::error::{Error, Result};
use crate::ops::integrity::check_integrity;
use crate::ops::jobs::Job;
use crate::ops::select::{self, Artifact, Selector};
use crate::ops::{Engine, Progress};
use crate::sources::filesystem::{self, Dest};
use crate::storage::sidecar::write_sidecar;
pub use crate::storage::sidecar::{read_sidecar, Verification};
use crate::Cancel;

/// Result of verifying one artifact.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub id: String,
    pub file: PathBuf,
    pub ok: bool,
    pub deep: bool,
    /// Deep verification of a database: how long the scratch restore took.
    pub restore_seconds: Option<f64>,
    pub checks: Vec<String>,
    pub problems: Vec<String>,
    pub seconds: f64,
    /// What kind of error failed the verification (the CLI's exit code:
    /// integrity is not the same as a missing key or a server too old).
    #[serde(skip)]
    pub failure: Option<crate::error::ErrorKind>,
}

/// Decrypt and decompress a whole stream, checking its plaintext length.
fn read_whole(
    artifact: &Artifact,
    info: &StreamInfo,
    dk: Option<&DataKey>,
    what: &str,
) -> Result<()> {
    let file = artifact.open_file(&info.file)?;
    let dk = if artifact.manifest.encrypted {
        dk
    } else {
        None
    };
    let mut stream =
        pipeline::open_stream(file, artifact.manifest.compression, dk, Some(info.size))
            .map_err(|e| artifact.about(&info.file, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n: u64 = 0;
    loop {
        let r = stream.read(&mut buf).map_err(|e| {
            Error::integrity(format!(
                "{what} of backup {} cannot be read back: {e}",
                artifact.manifest.id
            ))
            .hint("this backup cannot be trusted; use another one")
        })?;
        if r == 0 {
            break;
        }
        n += r as u64;
    }
    if n != info.size {
        return Err(Error::integrity(format!(
            "{what} of backup {} holds {n} bytes but its manifest says {}",
            artifact.manifest.id, info.size
        )));
    }
    Ok(())
}

/// Verify an artifact (and, for incrementals, its chain).
pub fn run(
    engine: &Engine,
    sel: &Selector,
    deep: bool,
    from: Option<&str>,
    face: &dyn Progress,
    cancel: &Cancel,
) -> Result<VerifyReport> {
    let artifact = select::resolve_from(engine, None, sel, from)?;
    let job = Job::start(engine, JobKind::Verify, &artifact.manifest.id, face, cancel)?;
    let cancel = job.cancel_flag();
    let started = std::time::Instant::now();
    let result =
        verify_artifact(engine, &artifact, deep, &job, cancel).map_err(|e| {
            match &artifact.remote {
                None => {
                    crate::ops::select::locate::point_at_copies(engine, &artifact.manifest.id, e)
                }
                Some(_) => e,
            }
        });
    let report = match result {
        Ok((checks, restore_seconds)) => VerifyReport {
            id: artifact.manifest.id.clone(),
            file: artifact.payload_path(),
            ok: true,
            deep,
            restore_seconds,
            checks,
            problems: vec![],
            seconds: started.elapsed().as_secs_f64(),
            failure: None,
        },
        Err(e) if e.kind == crate::error::ErrorKind::Cancelled => {
            job.finish::<()>(&Err(Error::cancelled(e.message.clone())), 0);
            return Err(e);
        }
        // A missing or wrong key file says nothing about the backup: it is
        // the operator's to fix, and is not recorded against the backup.
        Err(e) if e.kind == crate::error::ErrorKind::Key => {
            let e = Error::new(
                e.kind,
                format!(
                    "backup {} was not checked: {}",
                    artifact.manifest.id, e.message
                ),
            )
            .hint(e.hint.unwrap_or_default());
            job.finish::<()>(&Err(Error::new(e.kind, e.message.clone())), 0);
            engine.audit(
                if deep { "verify-deep" } else { "verify" },
                &artifact.manifest.id,
                "not checked",
                &e.message,
            )?;
            return Err(e);
        }
        Err(e) => VerifyReport {
            id: artifact.manifest.id.clone(),
            file: artifact.payload_path(),
            ok: false,
            deep,
            restore_seconds: None,
            checks: vec![],
            problems: vec![e.display_with_hint()],
            seconds: started.elapsed().as_secs_f64(),
            failure: Some(e.kind),
        },
    };
    let outcome: Result<()> = if report.ok {
        Ok(())
    } else {
        Err(Error::integrity(report.problems.join("; ")))
    };
    let verdict = if report.ok {
        "ok".to_string()
    } else {
        format!("failed: {}", report.problems.join("; "))
    };
    let now = Utc::now();
    // Recorded before the job ends, so what runs when a job finishes
    // (the metrics file) already sees this verification.
    let recorded = match &artifact.remote {
        None => match engine.catalog.get_backup(&report.id) {
            Ok(Some(_)) => engine.catalog.mark_verified(&report.id, now, &verdict),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        }
        .and_then(|()| {
            write_sidecar(
                &artifact.payload_path(),
                &Verification {
                    at: now,
                    deep,
                    restore_seconds: report.restore_seconds,
                    result: verdict.clone(),
                },
            )
        }),
        // Read from a target: the verdict is the copy's (the repository
        // holds no file to keep a sidecar next to). A copy that read back
        // whole is verified; one that did not is recorded as failed, with
        // why, and no longer counts.
        Some(target) => record_copy_verdict(engine, &report, &artifact, target.name(), now),
    };
    job.finish(&outcome, 0);
    recorded?;
    engine.audit(
        if deep { "verify-deep" } else { "verify" },
        &report.id,
        if report.ok { "ok" } else { "failed" },
        &verdict,
    )?;
    Ok(report)
}

fn record_copy_verdict(
    engine: &Engine,
    report: &VerifyReport,
    artifact: &Artifact,
    target: &str,
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    let bytes = engine
        .catalog
        .copies_of(&report.id)?
        .into_iter()
        .find(|c| c.target == target)
        .map(|c| c.bytes)
        .unwrap_or(0);
    // Only what was found wrong with this copy's own objects fails it: a
    // scratch restore that ran out of room, a missing tool, a parent read
    // from elsewhere or a dropped connection say nothing about it (and a
    // copy marked failed no longer counts, which prune acts on).
    let problems = report.problems.join("; ");
    let own = std::iter::once(&artifact.manifest.payload)
        .chain(artifact.manifest.index.as_ref())
        .any(|s| problems.contains(&artifact.describe(&s.file)));
    use crate::error::ErrorKind as K;
    let (state, error) = match (report.ok, report.failure) {
        (true, _) => (crate::catalog::copies::CopyState::Verified, None),
        (false, Some(K::Integrity | K::NotFound)) if own => {
            (crate::catalog::copies::CopyState::Failed, Some(problems))
        }
        (false, _) => return Ok(()),
    };
    engine
        .catalog
        .set_copy(&report.id, target, state, bytes, now, error.as_deref())
}

fn verify_artifact(
    engine: &Engine,
    artifact: &Artifact,
    deep: bool,
    job: &Job,
    cancel: &AtomicBool,
) -> Result<(Vec<String>, Option<f64>)> {
    let mut checks = Vec::new();
    let mut rto = None;
    let links = select::chain(Some(engine), artifact)?;
    let ring = engine.ring_for(&links.iter().map(|l| &l.manifest).collect::<Vec<_>>())?;
    job.phase("checking hashes");
    let mut keys = Vec::new();
    for link in &links {
        let dk = check_integrity(link, ring.as_ref())?;
        checks.push(format!(
            "{}: manifest {}, SHA-256 of {} stored bytes matches",
            link.manifest.id,
            if link.manifest.mac.is_some() {
                "authenticated"
            } else {
                "present (no key: not authenticated)"
            },
            link.manifest.payload.stored_size
        ));
        keys.push(dk);
    }
    job.phase("reading back");
    for (link, dk) in links.iter().zip(&keys) {
        crate::ops::jobs::check_cancel(cancel)?;
        read_whole(link, &link.manifest.payload, dk.as_ref(), "payload")?;
        if let Some(index) = &link.manifest.index {
            read_whole(link, index, dk.as_ref(), "file index")?;
        }
        checks.push(format!(
            "{}: decrypted and decompressed {} bytes{}",
            link.manifest.id,
            link.manifest.payload.size,
            if link.manifest.encrypted {
                " (every segment authenticated)"
            } else {
                ""
            }
        ));
    }
    if deep {
        match artifact.manifest.backup_type {
            BackupType::Filesystem | BackupType::Configuration => {
                job.phase("restoring into a scratch directory");
                let scratch = scratch_dir(engine)?;
                let result = (|| -> Result<String> {
                    // As a restore does: one total for the whole chain.
                    let chain = crate::ops::chain_progress::ChainProgress::start(job, &links);
                    for (i, (link, dk)) in links.iter().zip(&keys).enumerate() {
                        // As a restore does: the last link sets every
                        // directory's metadata.
                        let opts = crate::sources::filesystem::ExtractOptions {
                            dir_metadata: i + 1 == links.len(),
                            authenticated: dk.is_some(),
                            hard_links: i + 1 == links.len(),
                            ..Default::default()
                        };
                        crate::ops::restore::extract_link_checked(
                            link,
                            dk.as_ref(),
                            &Dest::Under(scratch.clone()),
                            &chain,
                            cancel,
                            false,
                            opts,
                        )?;
                        chain.link_done(link);
                    }
                    job.phase("comparing every file with the index");
                    let (last, dk) = (links.last().unwrap(), keys.last().unwrap());
                    let mut index = last.open_index(dk.as_ref())?;
                    let check = filesystem::verify_tree(&mut index, &Dest::Under(scratch.clone()))?;
                    if !check.problems.is_empty() {
                        let shown: Vec<_> = check.problems.iter().take(20).cloned().collect();
                        return Err(Error::integrity(format!(
                            "{} of {} entries differ after a scratch restore: {}",
                            check.problems.len(),
                            check.checked,
                            shown.join("; ")
                        )));
                    }
                    Ok(format!(
                        "scratch restore: all {} entries match the index",
                        check.checked
                    ))
                })();
                let _ = crate::storage::local::remove_tree(&scratch);
                checks.push(result?);
            }
            BackupType::Database => {
                let v = crate::ops::database::verify_deep(
                    engine,
                    artifact,
                    keys[0].as_ref(),
                    job,
                    cancel,
                )?;
                checks.push(format!(
                    "scratch restore into {}: {} tables, {} rows match the manifest; the restore took {:.1}s (measured RTO for this database)",
                    v.scratch_database, v.tables, v.rows, v.restore_seconds
                ));
                if v.tables_digested > 0 {
                    checks.push(format!(
                        "contents: the rows of {} table(s), the sequences, large objects and database properties match the backup's digests",
                        v.tables_digested
                    ));
                }
                rto = Some(v.restore_seconds);
            }
            other => {
                return Err(Error::usage(format!(
                    "--deep verification of {other} backups is not available yet"
                )));
            }
        }
    }
    Ok((checks, rto))
}

/// Where deep verification restores (`<catalog dir>/scratch/verify-<pid>-...`).
pub fn scratch_base(engine: &Engine) -> PathBuf {
    engine
        .config
        .catalog
        .path
        .parent()
        .unwrap_or(Path::new("."))
        .join("scratch")
}

/// A fresh scratch directory next to the catalog.
pub fn scratch_dir(engine: &Engine) -> Result<PathBuf> {
    let base = scratch_base(engine);
    let dir = base.join(format!(
        "verify-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    crate::storage::local::create_dir_all_private(&dir)?;
    Ok(dir)
}
