//! `lifeboat demo`: a guided run on a generated Panel-like app, with no
//! config and no PostgreSQL needed. Everything lives under ./var/demo.

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use lifeboat_engine::archive::manifest::BackupType;
use lifeboat_engine::config::Config;
use lifeboat_engine::error::{Error, Result};
use lifeboat_engine::ops::backup::BackupRequest;
use lifeboat_engine::ops::restore::RestoreRequest;
use lifeboat_engine::ops::select::Selector;
use lifeboat_engine::ops::{self, Engine, Silent};

use super::{interrupted, show};

/// Where the demo writes its config (`var/demo/lifeboat.toml` under the cwd).
pub fn config_path() -> Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("cannot read", Path::new("."), e))?;
    Ok(cwd.join("var").join("demo").join("lifeboat.toml"))
}

pub fn run(json: bool) -> Result<i32> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("cannot read", Path::new("."), e))?;
    let base = cwd.join("var").join("demo");
    if base.exists() {
        fs::remove_dir_all(&base).map_err(|e| Error::io("cannot clear", &base, e))?;
    }
    let app = base.join("app");
    step(
        json,
        &format!("1. creating a demo Panel app under {}", app.display()),
    );
    make_app(&app)?;

    let config_path = base.join("lifeboat.toml");
    let toml = format!(
        r#"# written by `lifeboat demo`
[repository]
path = "repository"
[catalog]
path = "catalog.db"
[encryption]
key_file = "keys/lifeboat.key"
[sources.filesystem]
paths = ["{app}/uploads", "{app}/logs", "{app}/static"]
exclude = ["*.tmp"]
[sources.configuration]
files = ["{app}/config.py"]
env_files = ["{app}/.env"]
env_vars = ["HOME"]
version_file = "{app}/VERSION"
"#,
        app = app.display()
    );
    fs::write(&config_path, toml).map_err(|e| Error::io("cannot write", &config_path, e))?;
    let config = Config::load(Some(&config_path), &|k| std::env::var(k).ok(), &cwd)?;

    step(json, "2. generating an encryption key");
    let key = ops::keys::generate(&config.encryption.key_file)?;
    say(
        json,
        &format!(
            "   key {} in {}",
            key.id,
            config.encryption.key_file.display()
        ),
    );

    let engine = Engine::open(config)?;
    let quiet = Silent;
    let backup = |t: BackupType| {
        ops::backup::run(
            &engine,
            &BackupRequest {
                backup_type: t,
                name: None,
                force_full: false,
            },
            &quiet,
            interrupted(),
        )
    };
    step(json, "3. full backup of files and configuration");
    let full = backup(BackupType::Filesystem)?;
    let cfg = backup(BackupType::Configuration)?;
    if !json {
        show::print_backup_report(&full);
        show::print_backup_report(&cfg);
    }

    step(
        json,
        "4. the app changes: 2 uploads edited, 1 added, 1 deleted",
    );
    fs::write(
        app.join("uploads/avatars/user_0001.json"),
        b"{\"user\":1,\"name\":\"renamed\"}\n",
    )
    .map_err(|e| Error::io("cannot write", &app, e))?;
    fs::write(
        app.join("uploads/docs/report_0002.txt"),
        "quarterly numbers, revised\n".repeat(200),
    )
    .map_err(|e| Error::io("cannot write", &app, e))?;
    fs::write(
        app.join("uploads/docs/new_upload.txt"),
        b"uploaded after the full backup\n",
    )
    .map_err(|e| Error::io("cannot write", &app, e))?;
    fs::remove_file(app.join("uploads/docs/report_0003.txt"))
        .map_err(|e| Error::io("cannot remove", &app, e))?;
    // Keep mtimes distinct from the full backup's even on coarse clocks.
    std::thread::sleep(std::time::Duration::from_millis(20));

    step(json, "5. incremental backup (only what changed)");
    let incr = backup(BackupType::Filesystem)?;
    if !json {
        show::print_backup_report(&incr);
    }

    step(
        json,
        "6. deep verification: restore into a scratch directory and compare every file",
    );
    let v = ops::verify::run(
        &engine,
        &Selector::Id(incr.id.clone()),
        true,
        None,
        &quiet,
        interrupted(),
    )?;
    if !json {
        show::print_verify_report(&v);
    }

    let restored = base.join("restored");
    step(
        json,
        &format!(
            "7. restoring the latest files into a new directory {}",
            restored.display()
        ),
    );
    let r = ops::restore::run(
        &engine,
        &RestoreRequest {
            backup_type: Some(BackupType::Filesystem),
            selector: Selector::Latest,
            target: Some(restored.clone()),
            in_place: false,
            dry_run: false,
            yes: false,
            target_db: None,
            jobs: 1,
            no_owner: false,
            role: None,
            update_roles: false,
            check_content: false,
            from: None,
            app: Default::default(),
        },
        &quiet,
        interrupted(),
    )?;
    if let (false, ops::restore::AnyRestoreReport::Tree(r)) = (json, &r) {
        show::print_restore_report(r);
    }

    step(
        json,
        "8. comparing the restored tree with the app, byte for byte",
    );
    let mut compared = 0;
    let mut differ = Vec::new();
    for sub in ["uploads", "logs", "static"] {
        let orig = app.join(sub);
        let back = restored.join(orig.strip_prefix("/").unwrap());
        compare_trees(&orig, &back, &mut compared, &mut differ)?;
    }
    if differ.is_empty() {
        say(json, &format!("   all {compared} files are identical"));
    } else {
        say(
            json,
            &format!(
                "   {} of {compared} files differ: {}",
                differ.len(),
                differ.join(", ")
            ),
        );
    }

    if json {
        super::show::print_json(&serde_json::json!({
            "full": full, "configuration": cfg, "incremental": incr, "verify": v, "restore": r,
            "compared_files": compared, "differing_files": differ,
        }));
    } else {
        outln!();
        outln!("explore it yourself:");
        outln!("  lifeboat --config {} list", config_path.display());
        outln!(
            "  lifeboat --config {} show {}",
            config_path.display(),
            incr.id
        );
        outln!("  lifeboat --config {} audit verify", config_path.display());
    }
    Ok(if differ.is_empty() { 0 } else { 1 })
}

fn step(json: bool, s: &str) {
    if !json {
        outln!("\n{s}");
    }
}

fn say(json: bool, s: &str) {
    if !json {
        outln!("{s}");
    }
}

fn io<T>(r: std::io::Result<T>, path: &Path) -> Result<T> {
    r.map_err(|e| Error::io("cannot write", path, e))
}

/// A small deterministic Panel-like app: uploads, logs, static assets, config.
fn make_app(app: &Path) -> Result<()> {
    let mut seed: u64 = 0x5eed;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for d in [
        "uploads/avatars",
        "uploads/docs",
        "uploads/images",
        "uploads/empty",
        "logs",
        "static/css",
        "static/js",
    ] {
        io(fs::create_dir_all(app.join(d)), &app.join(d))?;
    }
    for i in 0..40 {
        let p = app.join(format!("uploads/avatars/user_{i:04}.json"));
        io(
            fs::write(
                &p,
                format!("{{\"user\":{i},\"name\":\"user{i}\",\"plan\":\"pro\"}}\n"),
            ),
            &p,
        )?;
    }
    for i in 0..20 {
        let p = app.join(format!("uploads/docs/report_{i:04}.txt"));
        io(
            fs::write(&p, format!("report {i}\n").repeat(100 + i * 10)),
            &p,
        )?;
    }
    for i in 0..10 {
        let p = app.join(format!("uploads/images/photo_{i:04}.png"));
        let bytes: Vec<u8> = (0..32 * 1024).map(|_| rnd() as u8).collect();
        io(fs::write(&p, bytes), &p)?;
    }
    let log = app.join("logs/panel.log");
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!(
            "2026-11-26T02:{:02}:{:02}Z INFO request id={i} path=/api/items status=200\n",
            (i / 60) % 60,
            i % 60
        ));
    }
    io(fs::write(&log, text), &log)?;
    io(
        fs::write(
            app.join("logs/scratch.tmp"),
            b"excluded by the demo config\n",
        ),
        &app.join("logs"),
    )?;
    io(
        fs::write(
            app.join("static/css/site.css"),
            "body { margin: 0 }\n".repeat(50),
        ),
        &app.join("static"),
    )?;
    io(
        fs::write(
            app.join("static/js/app.js"),
            "console.log('panel');\n".repeat(50),
        ),
        &app.join("static"),
    )?;
    io(
        symlink("css/site.css", app.join("static/site.css")),
        &app.join("static"),
    )?;
    io(
        fs::write(
            app.join("config.py"),
            b"DEBUG = False\nUPLOAD_DIR = '/srv/panel/uploads'\n",
        ),
        app,
    )?;
    io(fs::write(app.join(".env"), b"PANEL_SECRET_KEY=demo-not-a-real-secret\nDATABASE_URL=postgres://panel@127.0.0.1/panel\n"), app)?;
    io(fs::write(app.join("VERSION"), b"panel 2.4.1\n"), app)?;
    Ok(())
}

fn file_hash(p: &Path) -> Result<[u8; 32]> {
    let mut f = fs::File::open(p).map_err(|e| Error::io("cannot read", p, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io("cannot read", p, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

fn compare_trees(
    orig: &Path,
    back: &Path,
    compared: &mut u64,
    differ: &mut Vec<String>,
) -> Result<()> {
    let mut stack: Vec<PathBuf> = vec![orig.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| Error::io("cannot list", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("cannot list", &dir, e))?;
            let p = entry.path();
            let ft = entry
                .file_type()
                .map_err(|e| Error::io("cannot stat", &p, e))?;
            let rel = p.strip_prefix(orig).unwrap();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                if p.extension().is_some_and(|e| e == "tmp") {
                    continue;
                }
                *compared += 1;
                let other = back.join(rel);
                if !other.exists() || file_hash(&p)? != file_hash(&other)? {
                    differ.push(p.display().to_string());
                }
            }
        }
    }
    Ok(())
}
