//! Checks on a tar member's header that every tar reader here shares.
//!
//! A PAX `size` record overrides the ustar header's size field, and the
//! `tar` crate reads the member's content by the PAX value. Other readers
//! (an old `tar`, a reader without PAX support, our own size checks that
//! look at the header) use the ustar field. An archive in which the two
//! disagree reads as two different archives depending on who reads it, so
//! it is refused as damaged or hostile. lifeboat's writer only adds a PAX
//! size for files too large for the octal field, and then puts the same
//! value in the header (base-256), so its own archives always agree.

use std::io::Read;

/// The content size of `entry`, or why it cannot be trusted: the PAX
/// `size` record and the ustar header disagree, or the header's size field
/// is unreadable.
pub fn checked_size<R: Read>(entry: &tar::Entry<'_, R>) -> Result<u64, String> {
    let header = entry
        .header()
        .entry_size()
        .map_err(|e| format!("its header's size field is unreadable ({e})"))?;
    let used = entry.size();
    if used != header {
        return Err(format!(
            "its PAX size record ({used} bytes) disagrees with its tar header ({header} bytes)"
        ));
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use sha2::{Digest, Sha256};
    use tar::{EntryType, Header};

    use crate::error::ErrorKind;
    use crate::sources::filesystem::{extract, Dest, EntryKind, IndexEntry};

    /// One PAX record: "LEN key=value\n", LEN counting itself.
    fn pax_record(key: &str, value: &str) -> Vec<u8> {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while len != body.len() + len.to_string().len() {
            len = body.len() + len.to_string().len();
        }
        format!("{len}{body}").into_bytes()
    }

    fn block(out: &mut Vec<u8>, h: &Header, data: &[u8]) {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    /// A tar of one regular file `f` whose ustar header says `ustar_size`
    /// bytes and whose PAX record says `pax_size`; `content` follows.
    fn lying_tar(ustar_size: u64, pax_size: u64, content: &[u8]) -> Vec<u8> {
        let mut tar = Vec::new();
        let pax = pax_record("size", &pax_size.to_string());
        let mut ph = Header::new_ustar();
        ph.set_entry_type(EntryType::XHeader);
        ph.set_path("PaxHeaders.0/f").unwrap();
        ph.set_mode(0o644);
        ph.set_size(pax.len() as u64);
        ph.set_cksum();
        block(&mut tar, &ph, &pax);
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::Regular);
        h.set_path("f").unwrap();
        h.set_mode(0o644);
        h.set_size(ustar_size);
        h.set_cksum();
        block(&mut tar, &h, content);
        tar.extend_from_slice(&[0u8; 1024]);
        tar
    }

    fn file_entry(content: &[u8]) -> IndexEntry {
        IndexEntry {
            path: b"f".to_vec(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: content.len() as u64,
            mtime_ns: 0,
            ctime_ns: 0,
            ino: 1,
            dev: 1,
            link_target: None,
            sha256: Some(hex::encode(Sha256::digest(content))),
            xattr_sha256: None,
            stored: true,
            hard_link: None,
            nlink: 0,
            sparse: false,
            sparse_data: 0,
        }
    }

    fn restore(
        tar: &[u8],
        index: Vec<IndexEntry>,
        dest: &std::path::Path,
    ) -> crate::error::Result<()> {
        let cancel = AtomicBool::new(false);
        extract(
            tar,
            &mut index.into_iter().map(Ok),
            &Dest::Under(dest.to_path_buf()),
            &|_, _| {},
            &cancel,
        )
        .map(|_| ())
    }

    #[test]
    fn pax_size_that_disagrees_with_the_header_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        // The tar crate reads 1000 bytes by the PAX record; a reader that
        // goes by the header sees a 1-byte file and 999 bytes of garbage.
        let content = vec![b'X'; 1000];
        let tar = lying_tar(1, 1000, &content);
        let dest = tmp.path().join("out");
        let err = restore(&tar, vec![file_entry(&content)], &dest).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Refused, "{}", err.message);
        assert!(
            err.message
                .contains("PAX size record (1000 bytes) disagrees with its tar header (1 bytes)"),
            "{}",
            err.message
        );
        assert!(
            !dest.join("f").exists(),
            "nothing of the lying entry is written"
        );

        // Smaller PAX than header: refused too.
        let tar = lying_tar(1000, 1, &content);
        let err = restore(
            &tar,
            vec![file_entry(&content[..1])],
            &tmp.path().join("o2"),
        )
        .unwrap_err();
        assert!(
            err.message.contains("disagrees with its tar header"),
            "{}",
            err.message
        );
    }

    #[test]
    fn pax_size_that_agrees_with_the_header_restores() {
        let tmp = tempfile::tempdir().unwrap();
        let content = b"hello".to_vec();
        let tar = lying_tar(5, 5, &content);
        let dest = tmp.path().join("out");
        restore(&tar, vec![file_entry(&content)], &dest).unwrap();
        assert_eq!(std::fs::read(dest.join("f")).unwrap(), content);
    }
}
