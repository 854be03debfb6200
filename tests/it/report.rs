//! `lifeboat report` through the real binary.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

#[test]
fn report_in_markdown_html_and_json_tells_the_same_story() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let fs_backup = sb.backup("filesystem", &[]);
    sb.backup("configuration", &[]);
    sb.ok(&["verify", &id_of(&fs_backup)]);
    // A failed backup counts against the success rate.
    std::fs::remove_dir_all(sb.app.join("logs")).unwrap();
    assert!(!sb.run(&["backup", "--type", "filesystem"]).status.success());

    let md = sb.ok(&["report"]);
    for section in [
        "# lifeboat backup report",
        "## Health",
        "## Backups by type",
        "## Verifications and drills",
        "## Storage",
        "## Audit",
    ] {
        assert!(md.contains(section), "missing {section}:\n{md}");
    }
    assert!(md.contains("| filesystem | "), "{md}");
    assert!(
        md.contains("50.0%"),
        "one of two filesystem backup jobs failed:\n{md}"
    );
    assert!(md.contains("hash chain verifies"), "{md}");

    let json = sb.json(&["report", "--format", "json"]);
    let fs = json["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "filesystem")
        .unwrap();
    assert_eq!(fs["good"], 1);
    assert_eq!(fs["success_rate"], 0.5);
    assert!(json["proofs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["kind"] == "verify"));
    assert!(json["health"]["checks"].as_array().unwrap().len() > 3);

    let out = sb.dir.path().join("report.html");
    sb.ok(&[
        "report",
        "--format",
        "html",
        "--output",
        out.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<table>") && html.contains("filesystem"));
    assert!(!html.contains("<script"));
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
