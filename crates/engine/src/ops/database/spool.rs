//! Reading a database artifact's plaintext: the decoded pg_dump stream, and
//! a private spool file of it for `pg_restore --jobs` (which cannot read a
//! pipe). Shared by the plain and the parallel restore, below both.

use super::*;

/// The artifact's payload, decrypted and decompressed, read ahead on its
/// own thread.
pub(super) fn open_plain(
    artifact: &Artifact,
    dk: Option<&DataKey>,
) -> Result<Box<dyn Read + Send>> {
    let file = artifact.open_file(&artifact.manifest.payload.file)?;
    let dk = if artifact.manifest.encrypted {
        dk
    } else {
        None
    };
    let stream = pipeline::open_stream(
        file,
        artifact.manifest.compression,
        dk,
        Some(artifact.manifest.payload.size),
    )
    .map_err(|e| artifact.about(&artifact.manifest.payload.file, e))?;
    Ok(Box::new(pipeline::ReadAhead::new(stream)))
}

/// A plaintext dump spooled for `pg_restore --jobs` (which cannot read a
/// pipe): 0600 in a private directory of the repository's restore scratch
/// (`.restore-tmp/<pid>-*`, removed by the next start if this process
/// dies), removed on drop.
pub(super) struct TempDump {
    dir: PathBuf,
    pub(super) path: PathBuf,
}

impl TempDump {
    pub(super) fn create(artifact: &Artifact) -> Result<(TempDump, std::fs::File)> {
        let base = artifact
            .dir()
            .parent()
            .unwrap_or(Path::new("/tmp"))
            .join(crate::storage::local::RESTORE_SCRATCH);
        let dir = base.join(format!(
            "{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        crate::storage::local::create_dir_all_private(&dir)?;
        let path = dir.join("dump");
        let t = TempDump { dir, path };
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&t.path)
                .map_err(|e| Error::io("cannot create", &t.path, e))?
        };
        Ok((t, file))
    }

    pub(super) fn write(
        artifact: &Artifact,
        dk: Option<&DataKey>,
        cancel: &AtomicBool,
    ) -> Result<TempDump> {
        let (t, file) = TempDump::create(artifact)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut plain = open_plain(artifact, dk)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            check_cancel(cancel)?;
            let n = plain
                .read(&mut buf)
                .map_err(|e| artifact.payload_read_error(e))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .map_err(|e| Error::io("cannot write", &t.path, e))?;
        }
        out.flush()
            .map_err(|e| Error::io("cannot write", &t.path, e))?;
        Ok(t)
    }
}

impl Drop for TempDump {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
