//! The kubelet's side of projected service-account tokens: files it keeps written with a fresh
//! token, rewritten when [`super::projected::refresh_due`] says so (after 80% of the token's
//! life), atomically (a new file renamed over the old), as the kubelet's atomic writer does.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use time::OffsetDateTime;

use super::projected::{Minted, Projection, refresh_due};

/// One projected token file.
#[derive(Debug)]
struct Mounted {
    projection: Projection,
    path: PathBuf,
    iat: i64,
    exp: i64,
}

/// The files kept fresh. Survives a world reset, as pods survive an API server restart.
#[derive(Debug, Default)]
pub struct Kubelet {
    mounted: Mutex<Vec<Mounted>>,
    ticking: std::sync::atomic::AtomicBool,
}

/// Writes `token` to `path` through a temporary file of its own (created new in the same
/// directory) renamed over it, so a reader sees the old token or the new one, never a part.
fn write_atomically(path: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".cloudid-token-").tempfile_in(dir)?;
    tmp.write_all(token.as_bytes())?;
    tmp.persist(path).map(|_| ()).map_err(|e| e.error)
}

/// Why `path` cannot hold a projected token: it must be absolute, and anything already there
/// must be a regular file that is empty or holds a token (nothing else is overwritten).
pub fn unfit_path(path: &Path) -> Option<String> {
    if !path.is_absolute() {
        return Some(format!("`{}` is not an absolute path", path.display()));
    }
    match std::fs::symlink_metadata(path) {
        Err(_) => None,
        Ok(m) if !m.is_file() => Some(format!("`{}` exists and is not a regular file", path.display())),
        Ok(m) if m.len() > 64 * 1024 => Some(format!("`{}` exists and holds something other than a token", path.display())),
        Ok(_) => {
            let text = std::fs::read_to_string(path).unwrap_or_else(|_| "\u{0}".into());
            let token_like = text.is_empty() || (text.split('.').count() == 3 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.=".contains(&b)));
            (!token_like).then(|| format!("`{}` exists and holds something other than a token", path.display()))
        }
    }
}

impl Kubelet {
    /// Mounts `projection` at `path`: writes the token `mint` makes now and keeps it fresh. A
    /// second mount at the same path replaces the first.
    pub fn mount(&self, projection: Projection, path: PathBuf, mint: impl FnOnce(&Projection) -> Result<Minted, String>) -> Result<Minted, String> {
        let minted = mint(&projection)?;
        write_atomically(&path, minted.token.expose()).map_err(|e| format!("writing {}: {e}", path.display()))?;
        let mut mounted = self.mounted.lock().unwrap_or_else(|e| e.into_inner());
        mounted.retain(|m| m.path != path);
        mounted.push(Mounted { projection, path, iat: minted.iat, exp: minted.exp });
        Ok(minted)
    }

    /// True the first time it is called: whoever hears it starts the periodic sync.
    pub fn start_ticking(&self) -> bool {
        !self.ticking.swap(true, std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether any file is mounted.
    pub fn is_empty(&self) -> bool {
        self.mounted.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Rewrites every file whose token is due at `now`; the paths rewritten. A file that cannot
    /// be written is left as it was and tried again next time.
    pub fn sync(&self, now: OffsetDateTime, mut mint: impl FnMut(&Projection) -> Result<Minted, String>) -> Vec<PathBuf> {
        let mut rewritten = Vec::new();
        let mut mounted = self.mounted.lock().unwrap_or_else(|e| e.into_inner());
        for m in mounted.iter_mut().filter(|m| refresh_due(m.iat, m.exp, now.unix_timestamp())) {
            let Ok(minted) = mint(&m.projection) else { continue };
            if write_atomically(&m.path, minted.token.expose()).is_ok() {
                (m.iat, m.exp) = (minted.iat, minted.exp);
                rewritten.push(m.path.clone());
            }
        }
        rewritten
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minted(n: &mut i64, now: i64) -> Minted {
        *n += 1;
        Minted { token: crate::secret::Secret::new(format!("token-{n}")), iat: now, exp: now + 3600 }
    }

    #[test]
    fn a_mounted_token_is_rewritten_only_after_80_percent_of_its_life() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let kubelet = Kubelet::default();
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut n = 0;
        let p = Projection { cluster: "c".into(), namespace: "ns".into(), service_account: "sa".into(), audience: "sts.amazonaws.com".into(), expiration_seconds: 3600 };
        kubelet.mount(p, path.clone(), |_| Ok(minted(&mut n, t0.unix_timestamp()))).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "token-1");
        let at = |s: i64| t0 + time::Duration::seconds(s);
        assert!(kubelet.sync(at(2880), |_| Ok(minted(&mut n, at(2880).unix_timestamp()))).is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "token-1");
        assert_eq!(kubelet.sync(at(2881), |_| Ok(minted(&mut n, at(2881).unix_timestamp()))), vec![path.clone()]);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "token-2");
        assert!(kubelet.sync(at(2900), |_| Ok(minted(&mut n, at(2900).unix_timestamp()))).is_empty(), "the new token is fresh");
    }
}
