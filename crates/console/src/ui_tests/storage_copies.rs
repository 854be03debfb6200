//! The Storage screen's offsite copies: each target's share and each
//! type's 3-2-1 verdict, at 80x24 and 200x50.

use super::*;
use crate::app::Screen;
use lifeboat_engine::archive::manifest::BackupType;
use lifeboat_engine::health::copies::{TargetCopies, TypeVerdict};
use lifeboat_engine::health::StorageReport;

fn report(targets: Vec<TargetCopies>, verdicts: Vec<TypeVerdict>) -> StorageReport {
    StorageReport {
        repository: "/var/lib/lifeboat/repository".into(),
        per_type: vec![(BackupType::Database, 3, 3 << 20)],
        per_target: vec![("database panel".into(), 3, 3 << 20)],
        disk_total: 100 << 30,
        disk_free: 60 << 30,
        disk_used: 40 << 30,
        daily_totals: Vec::new(),
        days_until_full: None,
        targets,
        verdicts,
    }
}

fn target(name: &str, failed: u64) -> TargetCopies {
    TargetCopies {
        name: name.into(),
        location: format!("s3://panel-backups/{name}/"),
        offsite: true,
        append_only: false,
        copies: 3,
        bytes: 3 << 20,
        verified: 1,
        failed,
        missing: 0,
        listed_at: None,
    }
}

fn verdict(t: BackupType, meets: bool) -> TypeVerdict {
    TypeVerdict {
        backup_type: t,
        newest: Some("db-1".into()),
        copies: if meets { 2 } else { 1 },
        required: 2,
        media: if meets { 2 } else { 1 },
        offsite: u32::from(meets),
        meets_policy: meets,
        meets_3_2_1: false,
        verdict: if meets {
            "3-2-1 not met: 2 of 3 copies".into()
        } else {
            "3-2-1 not met: 1 of 3 copies, 1 of 2 media, no offsite copy; below policy: 1 of 2 required copies".into()
        },
    }
}

#[test]
fn storage_shows_each_targets_copies_and_each_types_verdict() {
    let mut app = app();
    app.screen = Screen::Storage;
    app.storage = Some(Ok(report(
        vec![target("offsite", 1)],
        vec![
            verdict(BackupType::Database, false),
            verdict(BackupType::Filesystem, true),
        ],
    )));
    for (w, h) in [(80, 24), (200, 50)] {
        let f = frame(&app, w, h);
        assert!(f.contains("Offsite copies"), "{w}x{h}\n{f}");
        assert!(
            f.contains("offsite s3://panel-backups/offsite/"),
            "{w}x{h}\n{f}"
        );
        assert!(f.contains("failed, 0 missing"), "{w}x{h}\n{f}");
        assert!(f.contains("never listed"), "{w}x{h}\n{f}");
        assert!(f.contains("1 of 2 required copies"), "{w}x{h}\n{f}");
        assert!(
            f.contains("filesystem: 3-2-1 not met: 2 of 3"),
            "{w}x{h}\n{f}"
        );
        // The rest of the screen is still there.
        assert!(f.contains("Per target"), "{w}x{h}\n{f}");
    }
    // Without targets, no such block.
    app.storage = Some(Ok(report(Vec::new(), Vec::new())));
    assert!(!frame(&app, 80, 24).contains("Offsite copies"));
}
