//! Sparse files as GNU tar's PAX sparse format 1.0, both ways.
//!
//! A file with fewer allocated blocks than its size is asked for its data
//! regions (`SEEK_DATA`/`SEEK_HOLE`); its member then holds a map of those
//! regions and their bytes only, under PAX records that GNU tar and bsdtar
//! read (`GNU.sparse.major=1`, `minor=0`, `name`, `realsize`). The format
//! is GNU tar's rather than one of our own so that `tar -x` restores the
//! file whole, holes included. Restoring, the map is checked before a byte
//! is written: regions in order, apart, inside the file, and adding up to
//! exactly the member.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::io::AsRawFd;

use super::place::{read_entry, refuse};
use super::IndexEntry;
use crate::error::Result;

/// The data regions (offset, length) of a file with holes, found with
/// `SEEK_DATA`/`SEEK_HOLE`; None when the file system cannot say or the
/// file has no hole within `size` after all.
/// The most data regions a sparse member may have (its map is then at most
/// about 40 MiB of text, which a restore reads whole). A file with more is
/// stored dense.
const MAX_REGIONS: usize = 1 << 20;
const MAX_MAP: usize = 48 << 20;

pub(super) fn data_regions(f: &File, size: u64) -> Option<Vec<(u64, u64)>> {
    let fd = f.as_raw_fd();
    let mut regions = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let d = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if d < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) {
                break; // only a hole from here to the end
            }
            return None;
        }
        let d = d as u64;
        if d >= size {
            break;
        }
        let h = unsafe { libc::lseek(fd, d as libc::off_t, libc::SEEK_HOLE) };
        if h < 0 {
            return None;
        }
        let h = (h as u64).min(size);
        regions.push((d, h - d));
        if regions.len() > MAX_REGIONS {
            // A map a restore would refuse as too large: keep it dense.
            let _ = unsafe { libc::lseek(fd, 0, libc::SEEK_SET) };
            return None;
        }
        pos = h;
    }
    if unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } != 0 {
        return None;
    }
    let data: u64 = regions.iter().map(|r| r.1).sum();
    (data < size).then_some(regions)
}

/// The map that opens a PAX sparse 1.0 member's content: the number of
/// regions, then each region's offset and length, one decimal per line,
/// padded with NULs to a 512-byte block. A file that ends in a hole gets
/// a last, empty region at its end, as GNU tar writes it.
pub(super) fn sparse_map(regions: &[(u64, u64)], size: u64) -> Vec<u8> {
    let mut all = regions.to_vec();
    if all.last().is_none_or(|(o, l)| o + l < size) {
        all.push((size, 0));
    }
    let mut map = format!("{}\n", all.len()).into_bytes();
    for (o, l) in &all {
        map.extend_from_slice(format!("{o}\n{l}\n").as_bytes());
    }
    map.resize(map.len().div_ceil(512) * 512, 0);
    map
}

/// A member in GNU tar's PAX sparse format 1.0: its real name and size
/// (`GNU.sparse.name`, `GNU.sparse.realsize`), from the member's PAX
/// records as `xattrs::parse_pax` read them. None for any other member;
/// an error for other sparse formats or a record missing.
pub(super) fn sparse_member(
    pax: &super::xattrs::Pax,
) -> std::result::Result<Option<(Vec<u8>, u64)>, String> {
    if pax.sparse.is_empty() {
        return Ok(None);
    }
    let (mut version, mut name, mut size) = ((None, None), None, None);
    for (k, v) in &pax.sparse {
        match k.as_slice() {
            b"major" => version.0 = Some(v.clone()),
            b"minor" => version.1 = Some(v.clone()),
            b"name" => name = Some(v.clone()),
            b"realsize" => {
                size = std::str::from_utf8(v)
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
            }
            _ => {}
        }
    }
    if version != (Some(b"1".to_vec()), Some(b"0".to_vec())) {
        return Err("sparse file in a format other than PAX 1.0".into());
    }
    match (name, size) {
        (Some(n), Some(s)) => Ok(Some((n, s))),
        _ => Err("sparse file without GNU.sparse.name and GNU.sparse.realsize".into()),
    }
}

/// Read a sparse member's map (see [`sparse_map`]) from the start
/// of its content, `member` bytes in all; the data regions, checked to be
/// in order, apart, within the file and, with the map, exactly the member.
pub(super) fn read_sparse_map<R: Read>(
    data: &mut R,
    idx: &IndexEntry,
    member: u64,
) -> Result<Vec<(u64, u64)>> {
    let bad = |why: &str| refuse(&idx.path, &format!("its sparse map {why}"));
    let mut text: Vec<u8> = Vec::new();
    let mut nums: Vec<u64> = Vec::new();
    let mut line_start = 0;
    let mut block = [0u8; 512];
    loop {
        if let Some(count) = nums.first() {
            if nums.len() as u64 == 1 + 2 * count {
                break;
            }
        }
        if text.len() as u64 + 512 > member {
            return Err(bad("runs past the member's content"));
        }
        let n = read_entry(data, &mut block, idx)?;
        if n != 512 {
            return Err(bad("is cut short"));
        }
        text.extend_from_slice(&block);
        if text.len() > MAX_MAP {
            return Err(bad("is larger than lifeboat writes"));
        }
        while let Some(nl) = text[line_start..].iter().position(|c| *c == b'\n') {
            let line = &text[line_start..line_start + nl];
            line_start += nl + 1;
            let v = std::str::from_utf8(line)
                .ok()
                .filter(|t| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| bad("has a line that is not a number"))?;
            nums.push(v);
            if nums.len() as u64 == 1 + 2 * nums[0] {
                break;
            }
            if nums[0] > MAX_REGIONS as u64 + 1 {
                return Err(bad("has more regions than lifeboat writes"));
            }
        }
        let done = nums.first().is_some_and(|c| nums.len() as u64 == 1 + 2 * c);
        // Before the map ends, only digits may follow (NUL padding comes
        // after it): anything else is not a map, however long it runs.
        if !done && text[line_start..].iter().any(|c| !c.is_ascii_digit()) {
            return Err(bad("has a line that is not a number"));
        }
    }
    let mut regions = Vec::with_capacity(nums.len() / 2);
    let (mut end, mut data_len) = (0u64, 0u64);
    for pair in nums[1..].chunks(2) {
        let (off, len) = (pair[0], pair[1]);
        let stop = off.checked_add(len).ok_or_else(|| bad("overflows"))?;
        if off < end || stop > idx.size {
            return Err(bad(
                "has regions out of order, overlapping or past the file's end",
            ));
        }
        end = stop;
        data_len += len;
        regions.push((off, len));
    }
    if text.len() as u64 + data_len != member {
        return Err(bad("does not add up to the member's content"));
    }
    Ok(regions)
}
