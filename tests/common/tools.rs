//! External tools the tests use. A missing tool fails the test with the install advice: a
//! test that silently skips could never fail.

use std::path::PathBuf;

/// Find `name` on PATH (and in the pip user/venv bin dirs the test script uses).
pub fn find(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/bin"));
    }
    dirs.push(PathBuf::from("/usr/sbin"));
    dirs.push(PathBuf::from("/usr/local/bin"));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Find `name` or panic with the install advice.
pub fn require(name: &str) -> PathBuf {
    find(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: run scripts/test.sh, which installs the test dependencies"
        )
    })
}
