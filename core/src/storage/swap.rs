//! Replacing segments with a cleaned one, crash-safely, as Kafka's `replaceSegments` and its recovery in
//! `LogLoader` do it.
//!
//! The protocol for a cleaned segment at base offset B replacing segments S1..Sn (S1 also at B):
//! 1. the cleaner wrote and synced `B.log.cleaned` (with `.index`, `.timeindex` and maybe `.txnindex`);
//! 2. each `.cleaned` file is renamed to `.swap`, the `.log` last, so a `B.log.swap` means its companions
//!    are `.swap` too;
//! 3. every file of S1..Sn is renamed to `.deleted`;
//! 4. each `.swap` file takes its final name, the `.log` first, so a companion `.swap` without a `.log.swap`
//!    means step 4 was under way;
//! 5. the `.deleted` files are removed.
//!
//! Recovery on open ([`complete_interrupted_swaps`]): `.cleaned` files (and `.swap` files at or above the
//! lowest `.cleaned` base, an interrupted step 2) are removed, leaving the old segments; a `B.log.swap` is
//! finished: the segments it overlaps (bases in `[B, its next offset)`) are removed and it takes their place;
//! a leftover companion `.swap` takes its final name. Either way the log has the old segments or the new one
//! in each offset range, never a mix that loses a key.

use std::path::Path;

use super::backend::Backend;
use super::segment::{file_name, Segment, CLEANED_SUFFIX, LOG_SUFFIX, SEGMENT_FILE_SUFFIXES, SWAP_SUFFIX};
use super::{LogConfig, StorageError};

const DELETED_SUFFIX: &str = ".deleted";

/// The companions of a `.log`, in the order step 2 renames them (the `.log` goes last).
const COMPANIONS: [&str; 3] = [SEGMENT_FILE_SUFFIXES[1], SEGMENT_FILE_SUFFIXES[2], SEGMENT_FILE_SUFFIXES[3]];

fn rename(backend: &dyn Backend, dir: &Path, from: &str, to: &str) -> Result<(), StorageError> {
    backend.rename(&dir.join(from), &dir.join(to)).map_err(|e| StorageError::io(&dir.join(from), e))
}

fn remove_if_exists(backend: &dyn Backend, path: &Path) -> Result<(), StorageError> {
    match backend.remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::io(path, e)),
        _ => Ok(()),
    }
}

fn sync_dir(backend: &dyn Backend, dir: &Path) -> Result<(), StorageError> {
    backend.sync_dir(dir).map_err(|e| StorageError::io(dir, e))
}

/// Renames `<base><suffix><from>` to `<base><suffix><to>` for each suffix whose file exists.
fn rename_suffixes(
    backend: &dyn Backend,
    dir: &Path,
    base: i64,
    suffixes: &[&str],
    from: &str,
    to: &str,
) -> Result<(), StorageError> {
    for suffix in suffixes {
        let name = file_name(base, suffix);
        if backend.exists(&dir.join(format!("{name}{from}"))) {
            rename(backend, dir, &format!("{name}{from}"), &format!("{name}{to}"))?;
        }
    }
    Ok(())
}

/// Swaps `cleaned` (sealed and flushed, with `.cleaned` files) in for the segments at `old_bases`, and returns
/// it reopened under its final names. The caller holds the log's lock and drops the old segment objects after.
pub fn swap_in(
    backend: &dyn Backend,
    dir: &Path,
    cleaned: Segment,
    old_bases: &[i64],
    config: &LogConfig,
    now_ms: i64,
) -> Result<Segment, StorageError> {
    let base = cleaned.base_offset();
    drop(cleaned);
    let mut to_swap: Vec<&str> = COMPANIONS.to_vec();
    to_swap.push(LOG_SUFFIX);
    rename_suffixes(backend, dir, base, &to_swap, CLEANED_SUFFIX, SWAP_SUFFIX)?;
    sync_dir(backend, dir)?;
    for &old in old_bases {
        rename_suffixes(backend, dir, old, &SEGMENT_FILE_SUFFIXES, "", DELETED_SUFFIX)?;
    }
    rename_suffixes(backend, dir, base, &SEGMENT_FILE_SUFFIXES, SWAP_SUFFIX, "")?;
    sync_dir(backend, dir)?;
    for &old in old_bases {
        for suffix in SEGMENT_FILE_SUFFIXES {
            remove_if_exists(backend, &dir.join(format!("{}{DELETED_SUFFIX}", file_name(old, suffix))))?;
        }
    }
    open_sealed(backend, dir, base, config, now_ms)
}

fn open_sealed(
    backend: &dyn Backend,
    dir: &Path,
    base: i64,
    config: &LogConfig,
    now_ms: i64,
) -> Result<Segment, StorageError> {
    let (mut segment, indexes_ok) = Segment::open(backend, dir, base, config, now_ms)?;
    if !indexes_ok {
        segment.recover(Some(i64::MAX))?;
        segment.seal()?;
        segment.flush()?;
    }
    Ok(segment)
}

/// The base offset of a file named `<20 digits>.<ext><extra>`, if `name` is one ending in `extra`.
fn base_of(name: &str, extra: &str) -> Option<i64> {
    let stem = name.strip_suffix(extra)?;
    let digits = stem.get(..20)?;
    let suffix = &stem[20..];
    (SEGMENT_FILE_SUFFIXES.contains(&suffix) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Finishes or undoes a swap a crash interrupted (see the module docs). Runs before the log lists its
/// segments.
pub fn complete_interrupted_swaps(
    backend: &dyn Backend,
    dir: &Path,
    config: &LogConfig,
    now_ms: i64,
) -> Result<(), StorageError> {
    let list = |backend: &dyn Backend| backend.list_dir(dir).map_err(|e| StorageError::io(dir, e));
    let names = list(backend)?;
    // Nothing was interrupted (every log but one a crash caught cleaning): no renames, so nothing to sync.
    if !names.iter().any(|n| n.ends_with(CLEANED_SUFFIX) || n.ends_with(SWAP_SUFFIX)) {
        return Ok(());
    }
    let min_cleaned = names.iter().filter_map(|n| base_of(n, CLEANED_SUFFIX)).min();
    for name in &names {
        let cleaned = base_of(name, CLEANED_SUFFIX).is_some();
        let unfinished_swap = base_of(name, SWAP_SUFFIX).zip(min_cleaned).is_some_and(|(b, min)| b >= min);
        if cleaned || unfinished_swap {
            remove_if_exists(backend, &dir.join(name))?;
        }
    }
    let names = list(backend)?;
    let log_swap = format!("{LOG_SUFFIX}{SWAP_SUFFIX}");
    let mut swaps: Vec<i64> =
        names.iter().filter(|n| n.ends_with(&log_swap)).filter_map(|n| base_of(n, SWAP_SUFFIX)).collect();
    swaps.sort_unstable();
    for base in swaps {
        // The swapped-in segment's extent decides which old segments it replaces.
        let swap_log = dir.join(format!("{}{SWAP_SUFFIX}", file_name(base, LOG_SUFFIX)));
        let next_offset = swap_extent(backend, &swap_log, base)?;
        let existing: Vec<i64> = list(backend)?
            .iter()
            .filter_map(|n| n.strip_suffix(LOG_SUFFIX).filter(|d| d.len() == 20).and_then(|d| d.parse().ok()))
            .collect();
        for old in existing.into_iter().filter(|&b| b == base || (b > base && b < next_offset)) {
            for suffix in SEGMENT_FILE_SUFFIXES {
                remove_if_exists(backend, &dir.join(file_name(old, suffix)))?;
            }
        }
        rename_suffixes(backend, dir, base, &SEGMENT_FILE_SUFFIXES, SWAP_SUFFIX, "")?;
        sync_dir(backend, dir)?;
        // Its indexes were written for it; if they were lost, open rebuilds them.
        drop(open_sealed(backend, dir, base, config, now_ms)?);
    }
    for name in list(backend)? {
        if base_of(&name, SWAP_SUFFIX).is_some() {
            let final_name = &name[..name.len() - SWAP_SUFFIX.len()];
            remove_if_exists(backend, &dir.join(final_name))?;
            rename(backend, dir, &name, final_name)?;
        }
    }
    sync_dir(backend, dir)
}

/// One past the last offset of the last whole batch in a swap `.log` file.
fn swap_extent(backend: &dyn Backend, path: &Path, base: i64) -> Result<i64, StorageError> {
    let file = backend.open(path, false).map_err(|e| StorageError::io(path, e))?;
    let size = file.len();
    let mut pos = 0u64;
    let mut next = base;
    let mut header = [0u8; crate::record::RECORD_BATCH_OVERHEAD];
    while pos + header.len() as u64 <= size {
        file.read_exact_at(&mut header, pos).map_err(|e| StorageError::io(path, e))?;
        let h = crate::record::BatchHeader::parse(&header)?;
        if h.batch_length < 0 || pos + h.size_in_bytes() as u64 > size {
            break;
        }
        let batch_size = h.size_in_bytes() as u64;
        next = h.next_offset();
        pos += batch_size;
    }
    Ok(next)
}
