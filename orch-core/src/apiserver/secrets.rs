//! The cluster's secrets (CA, admin and join tokens, token-signing key),
//! shared by every API server over one store. The first server to start
//! seals its secrets into the store under a key derived from the *server
//! token*; a server started later on the same store with that token opens
//! them and writes them into its own data directory, so every server issues
//! and accepts the same certificates and tokens.
use std::{fs, io, num::NonZeroU32, path::Path};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ring::{aead, pbkdf2};
use serde::{Deserialize, Serialize};

use super::{auth::Auth, tls};
use crate::store::{Store, StoreError};

/// Where the sealed secrets live in the store.
pub const BOOTSTRAP_KEY: &str = "/registry/orch/bootstrap";

/// The data-directory files that make up the secrets.
pub const FILES: [&str; 5] = ["ca.crt", "ca.key", "admin-token", "join-token", "token-key"];

/// The file holding the server token.
pub const TOKEN_FILE: &str = "server-token";

const PBKDF2_ROUNDS: u32 = 100_000;

/// Why the secrets could not be shared.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Reading or writing the data directory.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Reading or writing the store.
    #[error("the cluster's secrets in the store: {0}")]
    Store(#[from] StoreError),
    /// The store holds secrets but no token was given.
    #[error(
        "the store already holds a cluster: start this server with --token, the first \
         server's {TOKEN_FILE} file"
    )]
    TokenNeeded,
    /// The token does not open the sealed secrets.
    #[error(
        "the server token does not open the cluster's secrets in the store: --token must be \
         the first server's {TOKEN_FILE} file"
    )]
    WrongToken,
    /// The data directory holds another cluster's secrets.
    #[error(
        "{dir} holds a different cluster's {file} than the store: point --data-dir at a new \
         directory (or this cluster's) to join the cluster in the store"
    )]
    Mismatch {
        /// The data directory.
        dir: String,
        /// The first file that differs.
        file: &'static str,
    },
    /// The sealed value is not what this version writes.
    #[error("the cluster's secrets in the store are unreadable: {0}")]
    Corrupt(String),
    /// The token given differs from the one kept in the data directory.
    #[error("--token differs from {0}; give the same token or remove the file")]
    TokenChanged(String),
}

/// The contents of [`FILES`], in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Files(Vec<String>);

#[derive(Serialize, Deserialize)]
struct Sealed {
    version: u32,
    salt: String,
    nonce: String,
    data: String,
}

fn key_for(token: &str, salt: &[u8]) -> aead::LessSafeKey {
    let mut key = [0u8; 32];
    let rounds = NonZeroU32::new(PBKDF2_ROUNDS).expect("non-zero");
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        token.as_bytes(),
        &mut key,
    );
    aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_256_GCM, &key).expect("32-byte key"))
}

fn seal(files: &Files, token: &str) -> Vec<u8> {
    let salt: [u8; 16] = rand::random();
    let nonce: [u8; 12] = rand::random();
    let mut data = serde_json::to_vec(files).unwrap_or_default();
    key_for(token, &salt)
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(BOOTSTRAP_KEY),
            &mut data,
        )
        .expect("AES-GCM sealing of a small buffer");
    serde_json::to_vec(&Sealed {
        version: 1,
        salt: B64.encode(salt),
        nonce: B64.encode(nonce),
        data: B64.encode(data),
    })
    .unwrap_or_default()
}

fn open(value: &[u8], token: &str) -> Result<Files, SecretsError> {
    let corrupt = |e: String| SecretsError::Corrupt(e);
    let s: Sealed = serde_json::from_slice(value).map_err(|e| corrupt(e.to_string()))?;
    if s.version != 1 {
        return Err(corrupt(format!(
            "version {} (this server reads 1)",
            s.version
        )));
    }
    let decode = |v: &str| B64.decode(v).map_err(|e| corrupt(e.to_string()));
    let (salt, nonce, mut data) = (decode(&s.salt)?, decode(&s.nonce)?, decode(&s.data)?);
    let nonce = aead::Nonce::try_assume_unique_for_key(&nonce)
        .map_err(|_| corrupt("nonce length".into()))?;
    let plain = key_for(token, &salt)
        .open_in_place(nonce, aead::Aad::from(BOOTSTRAP_KEY), &mut data)
        .map_err(|_| SecretsError::WrongToken)?;
    let files: Files = serde_json::from_slice(plain).map_err(|e| corrupt(e.to_string()))?;
    if files.0.len() != FILES.len() {
        return Err(corrupt(format!(
            "{} files, not {}",
            files.0.len(),
            FILES.len()
        )));
    }
    Ok(files)
}

/// The secrets in `dir`, `None` if it holds none of them.
fn read_local(dir: &Path) -> io::Result<Option<Files>> {
    let mut out = Vec::new();
    for f in FILES {
        match fs::read_to_string(dir.join(f)) {
            Ok(s) => out.push(s),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(Files(out)))
}

fn write_local(dir: &Path, files: &Files) -> io::Result<()> {
    for (name, body) in FILES.iter().zip(&files.0) {
        crate::util::write_private(&dir.join(name), body.as_bytes())?;
    }
    Ok(())
}

/// The server token: `given`, else the one kept in `dir`, if any; an error
/// if both are there and differ. Kept in `dir` by [`keep_token`] once it
/// proved right.
fn known_token(dir: &Path, given: Option<&str>) -> Result<Option<String>, SecretsError> {
    let path = dir.join(TOKEN_FILE);
    let kept = match fs::read_to_string(&path) {
        Ok(s) => Some(s.trim().to_string()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    match (given, kept) {
        (Some(g), Some(k)) if g != k => Err(SecretsError::TokenChanged(path.display().to_string())),
        (Some(g), _) => Ok(Some(g.to_string())),
        (None, kept) => Ok(kept),
    }
}

fn keep_token(dir: &Path, token: String) -> Result<String, SecretsError> {
    crate::util::write_private(&dir.join(TOKEN_FILE), token.as_bytes())?;
    Ok(token)
}

/// Makes `dir` hold the cluster's secrets: this server's own, sealed into
/// the store, if the store has none yet; otherwise the store's, opened with
/// the server token (`token`, or `dir`'s [`TOKEN_FILE`]). Returns the
/// server token.
pub async fn share(
    store: &dyn Store,
    dir: &Path,
    token: Option<&str>,
) -> Result<String, SecretsError> {
    // Two attempts: a server racing us may seal first.
    for _ in 0..2 {
        let local = read_local(dir)?;
        let known = known_token(dir, token)?;
        let Some(stored) = store.get(BOOTSTRAP_KEY).await? else {
            let token = known
                .unwrap_or_else(|| format!("server.{}", hex::encode(rand::random::<[u8; 24]>())));
            let files = match local {
                Some(f) => f,
                None => {
                    tls::load_or_create_ca(dir)?;
                    Auth::load_or_create(dir)?;
                    read_local(dir)?.ok_or_else(|| io::Error::other("secrets not written"))?
                }
            };
            match store.create(BOOTSTRAP_KEY, seal(&files, &token)).await {
                Ok(_) => return keep_token(dir, token),
                Err(StoreError::AlreadyExists(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let token = known.ok_or(SecretsError::TokenNeeded)?;
        let files = open(&stored.value, &token)?;
        match local {
            Some(mine) => {
                if let Some((file, _)) = FILES
                    .iter()
                    .zip(mine.0.iter().zip(&files.0))
                    .find(|(_, (a, b))| a.trim() != b.trim())
                {
                    return Err(SecretsError::Mismatch {
                        dir: dir.display().to_string(),
                        file,
                    });
                }
            }
            None => write_local(dir, &files)?,
        }
        return keep_token(dir, token);
    }
    Err(SecretsError::Corrupt(
        "the key appeared and vanished while joining".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};

    #[test]
    fn sealed_secrets_open_only_with_their_token() {
        let files = Files(FILES.iter().map(|f| format!("body of {f}")).collect());
        let sealed = seal(&files, "server.abc");
        assert_eq!(open(&sealed, "server.abc").unwrap(), files);
        assert!(matches!(
            open(&sealed, "server.abd"),
            Err(SecretsError::WrongToken)
        ));
        assert!(!String::from_utf8_lossy(&sealed).contains("body of"));
        assert!(matches!(
            open(b"{}", "server.abc"),
            Err(SecretsError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn a_second_server_takes_the_first_servers_secrets() {
        let (a, b, c, s) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let store = EmbeddedStore::open_dir(s.path(), EmbeddedOptions::default()).unwrap();
        let token = share(&store, a.path(), None).await.unwrap();
        // Restarting the first server: same token, no error.
        assert_eq!(share(&store, a.path(), None).await.unwrap(), token);

        // A new data directory needs the token, the right one.
        assert!(matches!(
            share(&store, b.path(), None).await,
            Err(SecretsError::TokenNeeded)
        ));
        assert!(matches!(
            share(&store, b.path(), Some("server.wrong")).await,
            Err(SecretsError::WrongToken)
        ));
        share(&store, b.path(), Some(&token)).await.unwrap();
        for f in FILES {
            assert_eq!(
                fs::read(a.path().join(f)).unwrap(),
                fs::read(b.path().join(f)).unwrap(),
                "{f}"
            );
        }
        let (ta, tb) = (
            Auth::load_or_create(a.path()).unwrap(),
            Auth::load_or_create(b.path()).unwrap(),
        );
        assert_eq!(
            tb.authenticate(&ta.node_token("n1")),
            Some(super::super::auth::Identity::Node("n1".into()))
        );

        // A directory of another cluster is refused, not overwritten.
        Auth::load_or_create(c.path()).unwrap();
        tls::load_or_create_ca(c.path()).unwrap();
        let before = fs::read(c.path().join("ca.crt")).unwrap();
        assert!(matches!(
            share(&store, c.path(), Some(&token)).await,
            Err(SecretsError::Mismatch { .. })
        ));
        assert_eq!(fs::read(c.path().join("ca.crt")).unwrap(), before);
    }
}
