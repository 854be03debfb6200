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

/// The `<svg>...</svg>` elements of a page, each with its `data-type`.
fn svg_elements(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<svg") {
        let end = rest[i..].find("</svg>").expect("an <svg> without </svg>") + i + "</svg>".len();
        let svg = &rest[i..end];
        let t = svg
            .split("data-type=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_string();
        out.push((t, svg.to_string()));
        rest = &rest[end..];
    }
    out
}

/// Every tag in `svg` is closed, in order; a name on the closing tag
/// matches its opening one.
fn tags_balance(svg: &str) -> Result<(), String> {
    let mut open: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find('<') {
        let j = rest[i..].find('>').ok_or("a tag never ends")? + i;
        let tag = &rest[i + 1..j];
        rest = &rest[j + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(format!("never closed: {open:?}"))
    }
}

#[test]
fn html_report_draws_each_types_recent_attempts_as_inline_svg() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    sb.backup("filesystem", &[]);
    std::fs::write(sb.app.join("uploads/more.bin"), noise(200_000, 7)).unwrap();
    let second = sb.backup("filesystem", &[]);
    sb.backup("configuration", &[]);
    // A filesystem backup that fails after writing its row...
    std::fs::remove_dir_all(sb.app.join("logs")).unwrap();
    assert!(!sb.run(&["backup", "--type", "filesystem"]).status.success());
    // ...and a database backup that fails before writing one (the server
    // is down): only its job says so, and the chart must show it.
    sb.write_config("[sources.database]\nurl = \"postgresql://lifeboat@127.0.0.1:1/panel\"\n");
    assert!(!sb.run(&["backup", "--type", "database"]).status.success());

    let html = sb.ok(&["report", "--format", "html"]);
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    let svgs = svg_elements(&html);
    let types: Vec<&str> = svgs.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["database", "filesystem", "configuration"]);
    let count = |svg: &str, class: &str| svg.matches(&format!("class=\"{class}\"")).count();
    let marks = |svg: &str| -> Vec<String> {
        svg.split("class=\"mark\"")
            .skip(1)
            .map(|m| {
                m.split('>')
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    for (t, svg) in &svgs {
        tags_balance(svg).unwrap_or_else(|e| panic!("{t}: {e}\n{svg}"));
        assert!(
            svg.contains("Backup size") && svg.contains("Duration"),
            "{svg}"
        );
    }
    // Database: one attempt, no backup: no size dot, a bar for the time
    // it took to fail, a failure mark.
    let db = &svgs[0].1;
    assert_eq!((count(db, "point"), count(db, "bar")), (0, 1), "{db}");
    assert_eq!(marks(db), ["✗"], "{db}");
    assert!(db.contains("(no backup was written)"), "{db}");
    // Filesystem: two backups and the failed one, oldest left.
    let fs = &svgs[1].1;
    assert_eq!(count(fs, "point"), 2, "a size dot per backup:\n{fs}");
    assert_eq!(
        count(fs, "bar"),
        3,
        "a duration bar per attempt that ended:\n{fs}"
    );
    assert_eq!(marks(fs), ["▪", "▪", "✗"], "{fs}");
    assert!(fs.contains("Outcome: 2 of 3 ok, 1 failed"), "{fs}");
    assert!(
        fs.contains(&id_of(&second)),
        "tooltips name the backup:\n{fs}"
    );
    let cfg = &svgs[2].1;
    assert_eq!((count(cfg, "point"), count(cfg, "bar")), (1, 1), "{cfg}");
    assert_eq!(marks(cfg), ["▪"], "{cfg}");

    // The JSON report carries the same attempts.
    let json = sb.json(&["report", "--format", "json"]);
    let outcomes = |t: &str| -> Vec<String> {
        json["trends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["type"] == t)
            .unwrap()["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["outcome"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(outcomes("filesystem"), ["ok", "ok", "failed"]);
    assert_eq!(outcomes("database"), ["failed"]);
}
