//! Writes that never leave a half-written file: temp file in the same directory, fsync, rename.

use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically (readers see the old file or the whole new one).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Write a JSON value (pretty, trailing newline) atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut s = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// Write several files all or nothing: each is first written whole to a temp file beside it
/// (fsynced); only when every one is staged are they renamed into place, in order. A file that
/// cannot be staged leaves every target untouched; a rename that fails (rare: same directory)
/// removes the targets this call created and leaves the others' previous content as it was.
pub fn write_all_atomic<'p>(
    files: &[(&'p Path, Vec<u8>)],
) -> Result<(), (&'p Path, std::io::Error)> {
    let mut staged: Vec<(std::path::PathBuf, &'p Path, bool)> = Vec::new();
    let cleanup = |staged: &[(std::path::PathBuf, &Path, bool)]| {
        for (tmp, _, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for (path, bytes) in files {
        match stage(path, bytes) {
            Ok(tmp) => staged.push((tmp, path, path.exists())),
            Err(e) => {
                cleanup(&staged);
                return Err((path, e));
            }
        }
    }
    for (i, (tmp, path, _)) in staged.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            for (_, done, existed) in &staged[..i] {
                if !existed {
                    let _ = std::fs::remove_file(done);
                }
            }
            cleanup(&staged[i..]);
            return Err((path, e));
        }
    }
    Ok(())
}

/// Write `bytes` to a fresh temp file beside `path` (directory created), fsynced.
fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match res {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}
